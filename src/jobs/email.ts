// What the two email jobs share: their retry policy, and loading, rendering and delivering one email about one
// status event of one reservation.
import { exponential, when, type BackoffStrategy, type Job } from 'agenda';
import { Types } from 'mongoose';
import { intervalMs, type Config } from '../config.js';
import { deliverOnce } from '../mail/deliver.js';
import type { Logger } from 'pino';
import { reservationInvite } from '../mail/calendar.js';
import type { EmailFacts, EmailKind, RenderOptions } from '../mail/render.js';
import { MailSendError, type OutgoingEmail } from '../mail/transport.js';
import { manageUrl } from '../manage/token.js';
import { Reservation, type ReservationRecord } from '../models/reservation.js';
import type { StatusEventRecord } from '../models/status-event.js';
import { ReservationStatus } from '../models/status.js';
import { User } from '../models/user.js';
import { emailKindOf, reminderKey, type EmailJobData, type ReminderJobData } from '../status/effects.js';
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
  // The manage link goes with the confirmation (and the reminders), not with a cancellation.
  const link = kind === 'reservation-confirmed' ? await manageUrl(linkFacts(reservation), c) : undefined;
  const email = await ctx.renderer.render(
    kind,
    {
      ...factsOf(reservation, customer),
      status: event.to,
      cancellationReason: event.reason ?? reservation.cancellationReason,
      manageUrl: link,
    },
    renderOptions(c),
  );
  // The calendar entry: added with the confirmation, withdrawn with the cancellation of a confirmed reservation.
  const invite =
    kind === 'reservation-confirmed'
      ? 'request'
      : kind === 'reservation-cancelled' && event.from === ReservationStatus.CONFIRMED
        ? 'cancel'
        : undefined;
  if (invite) {
    const facts = { ...factsOf(reservation, customer), reservationId: data.reservationId, at: event.at, manageUrl: link };
    email.attachments = [reservationInvite(facts, invite, c)];
  }
  await deliver(ctx, job, log, { ...email, key: data.eventId }, kind, data.reservationId);
}

/**
 * A reminder, REMINDER_OFFSETS before the start: only while the reservation is still CONFIRMED and has not started.
 * At most one per reservation and offset, whichever confirmation hand-over or worker runs it.
 */
export async function sendReminder(ctx: JobContext, job: Job<ReminderJobData>): Promise<void> {
  const data = job.attrs.data;
  const log = ctx.log.child({ reservationId: data.reservationId, offset: data.offset });
  const reservation = await Reservation.findById(data.reservationId).lean();
  if (reservation?.status !== ReservationStatus.CONFIRMED) {
    log.info({ status: reservation?.status }, 'the reservation is no longer confirmed; no reminder');
    return;
  }
  const now = ctx.clock.now();
  const due = new Date(reservation.startTime.getTime() - data.offsetMs);
  if (due > now) {
    // Early: this worker's clock is behind the scheduler's, or someone ran it by hand. Run again on time.
    job.schedule(due);
    return;
  }
  if (reservation.startTime <= now) {
    log.warn('the reservation has started; a reminder now would be too late');
    return;
  }
  const customer = await User.findById(reservation.customer).lean();
  if (!customer) {
    log.warn('the reservation has no customer any more; no reminder');
    return;
  }
  const c = ctx.config;
  const email = await ctx.renderer.render(
    'reservation-reminder',
    { ...factsOf(reservation, customer), status: reservation.status, manageUrl: await manageUrl(linkFacts(reservation), c) },
    renderOptions(c),
  );
  await deliver(ctx, job, log, { ...email, key: reminderKey(data.reservationId, data.offsetMs) }, 'reservation-reminder', data.reservationId);
}

type StoredReservation = Pick<ReservationRecord, 'reference' | 'startTime' | 'partySize' | 'notes' | 'customer'> & { _id: Types.ObjectId };

function factsOf(reservation: StoredReservation, customer: EmailFacts['customer']) {
  return { customer, reference: reservation.reference, startTime: reservation.startTime, partySize: reservation.partySize, notes: reservation.notes };
}

const linkFacts = (r: StoredReservation) => ({ reservationId: r._id.toHexString(), customerId: r.customer.toHexString(), startTime: r.startTime });

const renderOptions = (c: Config): RenderOptions => ({
  businessName: c.BUSINESS_NAME,
  timeZone: c.DISPLAY_TIMEZONE,
  adminEmail: c.ADMIN_EMAIL,
  from: c.MAIL_FROM,
});

/** Delivers once per key; when another run is sending it, comes back later (no failure, no attempt used). */
async function deliver(ctx: JobContext, job: Job<unknown>, log: Logger, email: OutgoingEmail, kind: EmailKind, reservationId: string): Promise<void> {
  const c = ctx.config;
  const delivery = await deliverOnce(ctx.transport, email, {
    abandonedAfterMs: intervalMs(c.JOB_LOCK_LIFETIME),
    reservationId,
    crash: ctx.crash,
  });
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
