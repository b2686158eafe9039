// The status pipeline: every status change — a mutation, the sweep, the one-off completion job, a creation —
// goes claim → apply → hand over effects, here. Built once per process with its collaborators, all required:
// where the jobs go (scheduler), where live events go (publisher), the rules (config), the time (clock).
//
//   claim     insert `<reservationId>:<version>` (claims.ts): of racing changes exactly one wins; the losers get
//             INVALID_TRANSITION (or retry from the new status) with nothing written — no event, no email.
//   apply     status and history event in one document write.
//   hand over the change's effects (effects.ts): its jobs to the scheduler, its live event to the publisher;
//             then the claim is marked dispatched.
//
// A process that dies between any two steps leaves an undispatched claim; `dispatchPendingEffects` (run by the
// worker's `dispatch-pending-effects` job) finishes it: applies it if it was not applied, hands over its effects.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Types } from 'mongoose';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { DatabaseCapabilities } from '../db/connect.js';
import { isDuplicateKey } from '../db/writes.js';
import { Reservation, TRANSITION_SUBJECT_FIELDS, type ReservationDocument } from '../models/reservation.js';
import { StatusClaim, type StatusClaimRecord } from '../models/status-claim.js';
import { ReservationStatus } from '../models/status.js';
import { newStatusEvent } from '../models/status-event.js';
import {
  applyClaims,
  changeOf,
  claimChanges,
  claimId,
  isApplied,
  markDispatched,
  pendingClaims,
  type TransitionRequest,
} from './claims.js';
import { crashHook } from './crash-points.js';
import { effectsOf, type LiveUpdate, type ScheduledJob, type StatusChange } from './effects.js';
import { TransitionError } from './errors.js';
import { canTransition } from './lifecycle.js';
import { newReference } from './reference.js';

/** Schedules a job idempotently: at most one job per `uniqueKey`, whoever calls and however often. */
export interface Scheduler {
  schedule(job: ScheduledJob): Promise<void>;
}

/** Stores a change where every API server's subscribers get it; resolves once stored. */
export interface Publisher {
  publish(update: LiveUpdate): Promise<void>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = Object.freeze({ now: () => new Date() });

/** Which webhook event types enabled endpoints subscribe to now (src/webhooks/subscriptions.ts). */
export interface WebhookSubscriptions {
  eventTypes(): Promise<ReadonlySet<string>>;
}

export interface StatusServiceDeps {
  scheduler: Scheduler;
  /** Absent: every change is offered to webhooks (its fan-out job finds no endpoint when there is none). */
  webhooks?: WebhookSubscriptions;
  publisher: Publisher;
  config: Pick<Config, 'COMPLETION_GRACE_MINUTES' | 'CRASH_POINT'>;
  clock: Clock;
  /** What the database can take (src/db/connect.ts). */
  database: DatabaseCapabilities;
  log: Logger;
}

export interface StatusService {
  /** Creates a reservation, PENDING, with its creation event (a change from version 0). */
  createReservation(args: {
    customer: Types.ObjectId;
    startTime: Date;
    partySize: number;
    notes?: string | null;
    actor: string;
  }): Promise<ReservationDocument>;
  /**
   * Changes one reservation's status, for mutations. Of N racing changes exactly one wins; the others see the new
   * status and get INVALID_TRANSITION if the move is no longer valid from it (a cancel racing a confirm still
   * succeeds, after it, with the right `from`). `scope` narrows what may be touched (a customer's own
   * reservations: another's is NOT_FOUND).
   */
  transition(args: {
    id: Types.ObjectId;
    to: ReservationStatus;
    actor: string;
    reason?: string | null;
    scope?: Record<string, unknown>;
  }): Promise<ReservationDocument>;
  /** Changes a batch (the sweep, the completion job): one command per step. Returns the changes that won. */
  changeStatuses(requests: TransitionRequest[]): Promise<StatusChange[]>;
  /** Finishes changes older than `olderThanMs` whose effects were never handed over; how many it finished. */
  dispatchPendingEffects(opts: { olderThanMs: number; limit: number }): Promise<number>;
}

/**
 * The reservation as the change to `version` left it. A change racing in right after this one (a cancel just
 * after a confirm) may already be stored when the winner reads its result back; the caller is answered with what
 * its own change did, in memory only (the document is never saved from here).
 */
function asLeftBy(doc: ReservationDocument, version: number): ReservationDocument {
  if (doc.version <= version) return doc;
  const history = doc.history.slice(0, version);
  const last = history.at(-1)!;
  doc.history = history as typeof doc.history;
  doc.version = version;
  doc.status = last.to;
  doc.updatedAt = last.at;
  const cancelled = history.find((e) => e.to === ReservationStatus.CANCELLED);
  doc.cancellationReason = cancelled?.reason ?? undefined;
  return doc;
}

/** How long a change that lost its claim waits for the winner to apply before finishing the winner's change itself. */
const STALLED_WINNER_MS = 2_000;

export function createStatusService(deps: StatusServiceDeps): StatusService {
  const { scheduler, publisher, config, clock, database, log } = deps;
  const crash = crashHook(config.CRASH_POINT);

  /** Hands over the effects of applied changes, then marks their claims dispatched. A batch's live events are
   *  handed over together, so the publisher stores them in one group insert rather than one by one. */
  async function handOver(claims: StatusClaimRecord[]): Promise<void> {
    // Read after the changes were claimed: an endpoint created before a change is seen; one created after it would
    // not be sent that change anyway (it gets the changes made after its creation).
    const webhookEventTypes = await deps.webhooks?.eventTypes().catch((err: unknown) => {
      log.warn({ err }, 'could not read the webhook subscriptions; offering every change to webhooks');
      return undefined;
    });
    const rules = webhookEventTypes ? { ...config, webhookEventTypes } : config;
    const handedOver = await Promise.all(
      claims.map(async (claim) => {
        try {
          const { jobs, live } = effectsOf(changeOf(claim), rules);
          // One change's own effects in order: its jobs, then its live event.
          for (const job of jobs) await scheduler.schedule(job);
          await publisher.publish(live);
          return claim._id;
        } catch (err) {
          log.warn(
            { err, reservationId: claim.reservation.toString(), eventId: claim.event._id.toString() },
            "could not hand over a status change's effects; dispatch-pending-effects will",
          );
          return undefined;
        }
      }),
    );
    for (const claim of claims) crash('after-handover', claim.event.to);
    await markDispatched(handedOver.filter((id): id is string => id !== undefined));
  }

  async function changeStatuses(requests: TransitionRequest[]): Promise<StatusChange[]> {
    const won = await claimChanges(requests, clock.now());
    for (const claim of won) crash('after-claim', claim.event.to);
    await applyClaims(won, database);
    for (const claim of won) crash('after-apply', claim.event.to);
    await handOver(won);
    return won.map(changeOf);
  }

  /** Applies (if need be) and hands over one undispatched claim; false when there was nothing to do. */
  async function finishChange(id: string): Promise<boolean> {
    const claim = await StatusClaim.findById(id).lean<StatusClaimRecord>();
    if (!claim || claim.dispatched) return false;
    await applyClaims([claim], database);
    if (!(await isApplied(claim))) {
      // Its reservation moved on without it (a change of the same version won by other means): no effects.
      await markDispatched([claim._id]);
      return false;
    }
    await handOver([claim]);
    return true;
  }

  /** Waits until the reservation has moved past `version` (another change won and is being applied). */
  async function settled(id: Types.ObjectId, version: number): Promise<void> {
    const deadline = Date.now() + STALLED_WINNER_MS;
    while (Date.now() < deadline) {
      const doc = await Reservation.findOne({ _id: id }, { version: 1 }).lean();
      if (!doc || doc.version > version) return;
      await sleep(20);
    }
    // The winner stalled or died between claiming and applying: finish its change for it.
    await finishChange(claimId(id, version));
  }

  return {
    changeStatuses,

    async transition(args) {
      for (;;) {
        const subject = await Reservation.findOne({ _id: args.id, ...args.scope }, TRANSITION_SUBJECT_FIELDS).lean();
        if (!subject) throw new TransitionError('NOT_FOUND');
        const from = subject.status as ReservationStatus;
        if (!canTransition(from, args.to)) throw new TransitionError('INVALID_TRANSITION', from, args.to);
        const [won] = await changeStatuses([{ subject, to: args.to, actor: args.actor, reason: args.reason }]);
        if (won) return asLeftBy((await Reservation.findById(args.id))!, subject.version + 1);
        await settled(args.id, subject.version);
      }
    },

    async createReservation(args) {
      for (let attempt = 0; ; attempt++) {
        const now = clock.now();
        const event = newStatusEvent(null, ReservationStatus.PENDING, args.actor, undefined, now);
        const doc = new Reservation({
          reference: newReference(),
          customer: args.customer,
          startTime: args.startTime,
          partySize: args.partySize,
          ...(args.notes ? { notes: args.notes } : {}),
          status: ReservationStatus.PENDING,
          history: [event],
          version: 1,
          createdAt: now,
          updatedAt: now,
        });
        await doc.validate();
        const claim = {
          _id: claimId(doc._id, 0),
          reservation: doc._id,
          version: 0,
          customer: args.customer,
          startTime: args.startTime,
          event,
          snapshot: doc.toObject(),
          dispatched: false,
          createdAt: now,
        } as StatusClaimRecord;
        await StatusClaim.collection.insertOne(claim as never);
        crash('after-claim', event.to);
        try {
          await Reservation.collection.insertOne(doc.toObject() as never);
        } catch (err) {
          // Our _id already stored: dispatch-pending-effects rolled this claim forward while we were slow. It is ours.
          const rolledForward = isDuplicateKey(err) && (await Reservation.exists({ _id: doc._id }));
          if (!rolledForward) {
            await StatusClaim.collection.deleteOne({ _id: claim._id } as never);
            // A reference collision (1 in 10^12 per pair): draw another.
            if (isDuplicateKey(err) && /reference/.test(String((err as Error).message)) && attempt < 4) continue;
            throw err;
          }
        }
        crash('after-apply', event.to);
        await handOver([claim]);
        return doc;
      }
    },

    async dispatchPendingEffects({ olderThanMs, limit }) {
      const pending = await pendingClaims(new Date(clock.now().getTime() - olderThanMs), limit);
      let finished = 0;
      for (const { _id } of pending) if (await finishChange(_id)) finished++;
      return finished;
    },
  };
}
