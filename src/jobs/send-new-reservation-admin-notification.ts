// The seed's `send_new_reservation_admin_notification`: tells ADMIN_EMAIL about a new reservation.
import type { Agenda } from 'agenda';
import { ReservationStatus } from '../models/status.js';
import type { JobContext, StatusEventJobData } from './context.js';
import { emailJobOptions, sendEventEmail } from './email.js';
import { JOB } from './names.js';

export type NewReservationAdminNotificationData = StatusEventJobData;

export function defineNewReservationAdminNotification(agenda: Agenda, ctx: JobContext): void {
  agenda.define<NewReservationAdminNotificationData>(
    JOB.newReservationAdminEmail,
    (job) =>
      sendEventEmail(ctx, job.attrs.data, (event) =>
        event.from == null && event.to === ReservationStatus.PENDING ? 'new-reservation-admin' : undefined,
      ),
    emailJobOptions(ctx.config),
  );
}
