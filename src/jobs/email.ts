// What the two email jobs share: their retry policy, and loading, rendering and delivering one email about one
// status event of one reservation.
import { exponential, when, type BackoffStrategy, type Job } from 'agenda';
import { Types } from 'mongoose';
import { intervalMs, type Config } from '../config.js';
import { deliverOnce } from '../mail/deliver.js';
import { MailSendError } from '../mail/transport.js';
import { Reservation } from '../models/reservation.js';
import type { StatusEventRecord } from '../models/status-event.js';
import { User } from '../models/user.js';
import { emailKindOf, type EmailJobData } from '../status/effects.js';
import type { JobContext } from './context.js';

/**
 * Exponential backoff up to EMAIL_MAX_ATTEMPTS runs in all, for failures that another try can fix. A provider
 * that refused the email itself (4xx other than 408 and 429: a bad address, a bad key) is not asked again.
 */
export function emailBackoff(c: Config): BackoffStrategy {
  return when(
    ({ error }) => !(error instanceof MailSendError) || error.retryable,
    exponential({ delay: intervalMs(c.EMAIL_RETRY_DELAY), factor: 2, maxRetries: c.EMAIL_MAX_ATTEMPTS - 1, jitter: 0.2 }),
  );
}

export function emailJobOptions(c: Config) {
  return {
    concurrency: 10,
    // Lock no more than this worker can start soon, leaving the rest to other workers.
    lockLimit: 20,
    lockLifetime: intervalMs(c.JOB_LOCK_LIFETIME),
    backoff: emailBackoff(c),
    // A sent email's job is removed, and a finished copy of it kept in its place (jobs/history.ts) for Agendash
    // and `npm run jobs` until purge-job-history removes it; failed jobs stay until retried or deleted.
    removeOnComplete: true,
  };
}

/**
 * Sends the email the job names about event `eventId` of the reservation, read fresh from the database. Sends
 * nothing when the reservation is gone or the event is not in its history (a change that did not stick). When
 * another run is sending the same email, the job comes back later: that is no failure and costs no attempt.
 */
export async function sendEventEmail(ctx: JobContext, job: Job<EmailJobData>): Promise<void> {
  const data = job.attrs.data;
  const log = ctx.log.child({ reservationId: data.reservationId, eventId: data.eventId });
  const reservation = await Reservation.findById(data.reservationId).lean();
  const event = reservation?.history.find((e) => e._id.equals(new Types.ObjectId(data.eventId))) as
    | StatusEventRecord
    | undefined;
  if (!reservation || !event) {
    log.warn('no such reservation or status event; no email');
    return;
  }
  // Jobs scheduled before the kind travelled in their data: the same rule the effects apply.
  const kind = data.kind ?? emailKindOf(event);
  if (!kind) return;
  const customer = await User.findById(reservation.customer).lean();
  if (!customer) {
    log.warn('the reservation has no customer any more; no email');
    return;
  }
  const c = ctx.config;
  const email = await ctx.renderer.render(
    kind,
    {
      customer,
      reference: reservation.reference,
      startTime: reservation.startTime,
      status: event.to,
      cancellationReason: event.reason ?? reservation.cancellationReason,
    },
    { businessName: c.BUSINESS_NAME, timeZone: c.DISPLAY_TIMEZONE, adminEmail: c.ADMIN_EMAIL, from: c.MAIL_FROM },
  );
  const delivery = await deliverOnce(
    ctx.transport,
    { ...email, key: data.eventId },
    { abandonedAfterMs: intervalMs(c.JOB_LOCK_LIFETIME), reservationId: data.reservationId, crash: ctx.crash },
  );
  if (delivery.outcome === 'in-progress') {
    // Come back when the other run has finished, or by then has been gone long enough to count as dead — but
    // look again sooner, since it usually finishes in well under a second.
    const retryAt = new Date(Math.min(delivery.retryAt.getTime(), ctx.clock.now().getTime() + intervalMs(c.EMAIL_RETRY_DELAY)));
    job.schedule(retryAt);
    log.info({ kind, retryAt }, 'email is being sent by another run; checking again later');
    return;
  }
  log.info({ kind, transport: ctx.transport.name }, delivery.outcome === 'sent' ? 'email sent' : 'email was already sent');
}
