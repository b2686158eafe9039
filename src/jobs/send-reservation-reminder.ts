// A reminder email at each of REMINDER_OFFSETS before a confirmed reservation's start, with its manage link.
// Scheduled by the confirmation (src/status/effects.ts), removed by a cancellation or a no-show; one that runs
// anyway for a reservation no longer CONFIRMED sends nothing.
import type { ReminderJobData } from '../status/effects.js';
import type { JobContext } from './context.js';
import { emailJobOptions, sendReminder } from './email.js';
import { JOB } from './names.js';

export function defineSendReservationReminder(ctx: JobContext): void {
  ctx.agenda.define<ReminderJobData>(JOB.sendReservationReminder, (job) => sendReminder(ctx, job), emailJobOptions(ctx.config));
}
