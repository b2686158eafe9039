// The seed's `send_new_reservation_admin_notification`: tells ADMIN_EMAIL about a new reservation.
import type { EmailJobData } from '../status/effects.js';
import type { JobContext } from './context.js';
import { emailJobOptions, sendEventEmail } from './email.js';
import { JOB } from './names.js';

export function defineNewReservationAdminNotification(ctx: JobContext): void {
  ctx.agenda.define<EmailJobData>(JOB.newReservationAdminNotification, (job) => sendEventEmail(ctx, job), emailJobOptions(ctx.config));
}
