// "When a reservation's status changes, do Y": the single home of that rule (the seed's Django signals).
// Every status change is committed as a claim (status-claim.ts) that is also its outbox entry; once the change
// is applied, `dispatchClaims` turns its event into effects — jobs to schedule and a live event — and marks the
// claim dispatched. The changing process does it right away; the worker's reconciler does it for anything a
// crash left behind. Effects are idempotent (jobs unique per key, emails per idempotency key), so doing it twice
// is harmless, and a change that lost its race never gets this far.
import type { Types } from 'mongoose';
import { JOB, type JobName } from '../jobs/names.js';
import { ReservationStatus } from './status.js';
import type { StatusEventRecord } from './status-event.js';
import { StatusClaim, type StatusClaimRecord } from './status-claim.js';

export interface ScheduledJob {
  name: JobName;
  data: { reservationId: string; eventId?: string };
  /** When to run; now when absent. */
  runAt?: Date;
  /** At most one job per key, however many times (or processes) it is scheduled. */
  uniqueKey: string;
}

export interface StatusChange {
  reservationId: string;
  customerId: string;
  event: StatusEventRecord;
}

export interface EffectSinks {
  /** Schedules a job idempotently (one per uniqueKey). Without it, effects stay in the outbox for a worker. */
  schedule?: (job: ScheduledJob) => Promise<void>;
  /** Publishes a status change to every API server's subscribers. */
  publish?: (change: StatusChange) => Promise<void>;
  /** Minutes after its start at which a confirmed reservation completes. */
  completionGraceMinutes?: number;
  onError?: (err: unknown, context: Record<string, unknown>) => void;
}

const sinks: EffectSinks = {};

/**
 * Installed at start-up by the parts that own them (the job scheduler, the live channel); each call merges.
 * Pass `undefined` for a key to remove it (tests, shutdown).
 */
export function configureEffects(s: EffectSinks): void {
  Object.assign(sinks, s);
}

/** The jobs an event calls for. */
export function jobsFor(
  reservation: { _id: Types.ObjectId; startTime: Date },
  event: StatusEventRecord,
  graceMinutes: number,
): ScheduledJob[] {
  const reservationId = reservation._id.toString();
  const eventId = event._id.toString();
  switch (event.to) {
    case ReservationStatus.PENDING:
      return event.from == null
        ? [{ name: JOB.newReservationAdminEmail, data: { reservationId, eventId }, uniqueKey: `email:${eventId}` }]
        : [];
    case ReservationStatus.CONFIRMED:
      return [
        { name: JOB.reservationStatusEmail, data: { reservationId, eventId }, uniqueKey: `email:${eventId}` },
        {
          name: JOB.completeReservation,
          data: { reservationId, eventId },
          runAt: new Date(reservation.startTime.getTime() + graceMinutes * 60_000),
          uniqueKey: `complete:${eventId}`,
        },
      ];
    case ReservationStatus.CANCELLED:
      return [{ name: JOB.reservationStatusEmail, data: { reservationId, eventId }, uniqueKey: `email:${eventId}` }];
    default:
      return []; // COMPLETED: no email (the seed's rule).
  }
}

/**
 * Hands over the effects of applied changes, then marks their claims dispatched. The claims of a batch are handed
 * over together: their live events then go out in one group insert (publisher.ts) rather than one by one.
 */
export async function dispatchClaims(claims: StatusClaimRecord[]): Promise<void> {
  const { schedule, publish, onError } = sinks;
  if (!schedule || claims.length === 0) return; // no scheduler here: the worker's reconciler dispatches them
  const grace = sinks.completionGraceMinutes ?? 35;
  const handedOver = await Promise.all(
    claims.map(async (claim) => {
      try {
        // One claim's own effects in order: its jobs, then its live event.
        for (const job of jobsFor({ _id: claim.reservation, startTime: claim.startTime }, claim.event, grace)) {
          await schedule(job);
        }
        await publish?.({
          reservationId: claim.reservation.toString(),
          customerId: claim.customer.toString(),
          event: claim.event,
        });
        return claim._id;
      } catch (err) {
        onError?.(err, { reservationId: claim.reservation.toString(), eventId: claim.event._id.toString() });
        return undefined;
      }
    }),
  );
  const done = handedOver.filter((id): id is string => id !== undefined);
  // `dispatched: false` changes nothing on MongoDB (the _id index finds them) but lets FerretDB narrow its read to
  // the claims not yet dispatched instead of every claim ever made (it cannot use an index for `$in`).
  if (done.length) await StatusClaim.updateMany({ _id: { $in: done }, dispatched: false }, { $set: { dispatched: true } });
}
