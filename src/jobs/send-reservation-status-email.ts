// The seed's `send_reservation_status_email`: tells the customer their reservation was confirmed or cancelled.
// Any other status (COMPLETED) gets no email.
import type { Agenda } from 'agenda';
import type { EmailKind } from '../mail/render.js';
import { ReservationStatus } from '../models/status.js';
import type { JobContext, StatusEventJobData } from './context.js';
import { emailJobOptions, sendEventEmail } from './email.js';
import { JOB } from './names.js';

export type ReservationStatusEmailData = StatusEventJobData;

const KIND_BY_STATUS: Partial<Record<string, EmailKind>> = {
  [ReservationStatus.CONFIRMED]: 'reservation-confirmed',
  [ReservationStatus.CANCELLED]: 'reservation-cancelled',
};

export function defineReservationStatusEmail(agenda: Agenda, ctx: JobContext): void {
  agenda.define<ReservationStatusEmailData>(
    JOB.reservationStatusEmail,
    (job) => sendEventEmail(ctx, job.attrs.data, (event) => KIND_BY_STATUS[event.to]),
    emailJobOptions(ctx.config),
  );
}
