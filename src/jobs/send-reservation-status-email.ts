// The seed's `send_reservation_status_email`: tells the customer their reservation was confirmed or cancelled.
// Which status gets which email (COMPLETED: none) is the status pipeline's rule (src/status/effects.ts).
import type { EmailJobData } from '../status/effects.js';
import type { JobContext } from './context.js';
import { emailJobOptions, sendEventEmail } from './email.js';
import { JOB } from './names.js';

export function defineReservationStatusEmail(ctx: JobContext): void {
  ctx.agenda.define<EmailJobData>(JOB.reservationStatusEmail, (job) => sendEventEmail(ctx, job), emailJobOptions(ctx.config));
}
