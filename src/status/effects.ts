// "When a reservation's status changes, do Y": the single home of that rule (the seed's Django signals).
//
// The effects of a change are a function of the change alone: the jobs it calls for and the live event every
// subscriber gets. The status service (service.ts) hands them over after the change is committed; the pending-
// effects job hands over whatever a crashed process left behind. Both may do it twice for one change: jobs are
// unique per key, emails per idempotency key, live events per event id, so a second hand-over changes nothing.
//
// A new kind of effect (a reminder, a webhook delivery) is one more entry in JOB_EFFECTS plus its job file.
import type { Config } from '../config.js';
import type { JobName } from '../jobs/names.js';
import { JOB } from '../jobs/names.js';
import type { EmailKind } from '../mail/render.js';
import { ReservationStatus } from '../models/status.js';
import type { StatusEventRecord } from '../models/status-event.js';
import { webhookEventOf } from '../webhooks/events.js';
import { completionDeadline } from './completion.js';

/** One committed status change, as its effects see it. */
export interface StatusChange {
  reservationId: string;
  customerId: string;
  startTime: Date;
  event: StatusEventRecord;
}

/** The data of every job a status change causes: which change of which reservation. */
export interface StatusEventJobData {
  reservationId: string;
  eventId: string;
}

/** The email jobs' data: the change, and which email it calls for (decided here, not again by the job). */
export interface EmailJobData extends StatusEventJobData {
  kind: EmailKind;
}

/** A reminder's data: the confirmation it follows, and how long before the start it is due. */
export interface ReminderJobData extends StatusEventJobData {
  /** The offset in milliseconds (its identity) and as configured (for people reading the job). */
  offsetMs: number;
  offset: string;
}

export interface ScheduledJob {
  name: JobName;
  data: StatusEventJobData | EmailJobData | ReminderJobData;
  /** When to run; now when absent. */
  runAt?: Date;
  /** At most one job per key, however many times (or processes) it is scheduled. */
  uniqueKey: string;
}

/** What every API server's subscribers are told of a change. */
export type LiveUpdate = Pick<StatusChange, 'reservationId' | 'customerId' | 'event'>;

/** Pending jobs of one reservation that a change makes pointless (a cancelled reservation's completion and reminders). */
export interface UnscheduledJobs {
  reservationId: string;
  names: JobName[];
}

export interface Effects {
  jobs: ScheduledJob[];
  /** Removed if still waiting (not running); a job that runs anyway finds the reservation moved on and does nothing. */
  unschedule: UnscheduledJobs[];
  live: LiveUpdate;
}

export type EffectRules = Pick<Config, 'COMPLETION_GRACE_MINUTES' | 'REMINDER_OFFSETS'> & {
  /** The webhook event types some enabled endpoint subscribes to, read once per hand-over; absent: offer every change. */
  webhookEventTypes?: ReadonlySet<string>;
};

/** The email a status event calls for, if any: the seed's two signals. COMPLETED gets none. */
export function emailKindOf(event: Pick<StatusEventRecord, 'from' | 'to'>): EmailKind | undefined {
  if (event.from == null && event.to === ReservationStatus.PENDING) return 'new-reservation-admin';
  if (event.to === ReservationStatus.CONFIRMED) return 'reservation-confirmed';
  if (event.to === ReservationStatus.CANCELLED) return 'reservation-cancelled';
  return undefined;
}

/** Which job sends which email. */
const EMAIL_JOB: Readonly<Record<EmailKind, JobName>> = Object.freeze({
  'new-reservation-admin': JOB.newReservationAdminNotification,
  'reservation-confirmed': JOB.reservationStatusEmail,
  'reservation-cancelled': JOB.reservationStatusEmail,
  'reservation-reminder': JOB.sendReservationReminder,
});

type JobEffect = (change: StatusChange, rules: EffectRules) => ScheduledJob[];

const email: JobEffect = ({ reservationId, event }) => {
  const kind = emailKindOf(event);
  if (!kind) return [];
  const eventId = event._id.toString();
  return [{ name: EMAIL_JOB[kind], data: { reservationId, eventId, kind }, uniqueKey: `email:${eventId}` }];
};

/** A confirmation completes on its own at its deadline (the sweep is the safety net). */
const completion: JobEffect = ({ reservationId, startTime, event }, rules) => {
  if (event.to !== ReservationStatus.CONFIRMED) return [];
  const eventId = event._id.toString();
  return [
    {
      name: JOB.completeReservation,
      data: { reservationId, eventId },
      runAt: completionDeadline(startTime, rules.COMPLETION_GRACE_MINUTES),
      uniqueKey: `complete:${eventId}`,
    },
  ];
};

/** The idempotency key of a reservation's reminder at one offset: at most one job and one email per pair. */
export const reminderKey = (reservationId: string, offsetMs: number) => `reminder:${reservationId}:${offsetMs}`;

/**
 * A confirmation is followed by a reminder at each of REMINDER_OFFSETS before the start, except those already past
 * when it was confirmed (decided from the event's own time, so a later hand-over decides the same).
 */
const reminders: JobEffect = ({ reservationId, startTime, event }, rules) => {
  if (event.to !== ReservationStatus.CONFIRMED) return [];
  const eventId = event._id.toString();
  return rules.REMINDER_OFFSETS.map(({ ms, text }) => ({ ms, text, runAt: new Date(startTime.getTime() - ms) }))
    .filter(({ runAt }) => runAt.getTime() > event.at.getTime())
    .map(({ ms, text, runAt }) => ({
      name: JOB.sendReservationReminder,
      data: { reservationId, eventId, offsetMs: ms, offset: text },
      runAt,
      uniqueKey: reminderKey(reservationId, ms),
    }));
};

/** Every change is offered to the webhook endpoints subscribed to its event (src/webhooks/delivery.ts fans it out). */
const webhooks: JobEffect = ({ reservationId, event }, rules) => {
  const type = webhookEventOf(event);
  // No endpoint wants it: no job (a sweep of 10,000 completions costs no 10,000 fan-outs where nobody listens).
  if (!type || (rules.webhookEventTypes && !rules.webhookEventTypes.has(type))) return [];
  const eventId = event._id.toString();
  return [{ name: JOB.fanOutWebhook, data: { reservationId, eventId }, uniqueKey: `webhooks:${eventId}` }];
};

/** Every kind of job a change may cause, in the order they are scheduled. */
const JOB_EFFECTS: readonly JobEffect[] = Object.freeze([email, completion, reminders, webhooks]);

/** The jobs a confirmation scheduled for later, which only a CONFIRMED reservation needs. */
const WHILE_CONFIRMED: readonly JobName[] = Object.freeze([JOB.completeReservation, JOB.sendReservationReminder]);

/**
 * Leaving CONFIRMED for a final status other than COMPLETED (cancelled, no-show) removes them. (A completion is
 * made by one of those jobs or the sweep, after the start, when the reminders are long gone.)
 */
function unscheduled({ reservationId, event }: StatusChange): UnscheduledJobs[] {
  const leaves = event.from === ReservationStatus.CONFIRMED && event.to !== ReservationStatus.COMPLETED;
  return leaves ? [{ reservationId, names: [...WHILE_CONFIRMED] }] : [];
}

export function effectsOf(change: StatusChange, rules: EffectRules): Effects {
  const { reservationId, customerId, event } = change;
  return {
    jobs: JOB_EFFECTS.flatMap((effect) => effect(change, rules)),
    unschedule: unscheduled(change),
    live: { reservationId, customerId, event },
  };
}
