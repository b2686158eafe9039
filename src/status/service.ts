// The status pipeline: every status change — a mutation, the sweep, the one-off completion job, a creation —
// goes claim → apply → hand over effects, here. Built once per process with its collaborators, all required:
// where the jobs go (scheduler), where live events go (publisher), the rules (config), the time (clock).
//
//   claim     insert `<reservationId>:<version>` (claims.ts): of racing changes exactly one wins; the losers get
//             INVALID_TRANSITION (or retry from the new status) with nothing written — no event, no email.
//   apply     status and history event in one document write.
//   hand over the change's effects (effects.ts): its jobs to the scheduler, its live event to the publisher;
//             then the claim is marked dispatched. A mutation over HTTP does this after its response has gone out
//             (`afterCommit`): the response waits for the commit (claim + apply) only.
//
// A process that dies between any two steps leaves an undispatched claim; `dispatchPendingEffects` (run by the
// worker's `dispatch-pending-effects` job) finishes it: applies it if it was not applied, hands over its effects.
import { setTimeout as sleep } from 'node:timers/promises';
import { Types } from 'mongoose';
import type { Logger } from 'pino';
import { intervalMs, type Config } from '../config.js';
import type { DatabaseCapabilities } from '../db/connect.js';
import { isDuplicateKey } from '../db/writes.js';
import { Reservation, type StoredReservation } from '../models/reservation.js';
import { StatusClaim, type StatusClaimRecord } from '../models/status-claim.js';
import { ReservationStatus } from '../models/status.js';
import { newStatusEvent } from '../models/status-event.js';
import {
  type MarkClaims,
  applyClaims,
  asApplied,
  changeOf,
  claimChanges,
  claimId,
  isApplied,
  markDispatched,
  pendingClaims,
  type TransitionRequest,
} from './claims.js';
import { crashHook } from './crash-points.js';
import { effectsOf, type Effects, type LiveUpdate, type ScheduledJob, type StatusChange, type UnscheduledJobs } from './effects.js';
import { TransitionError } from './errors.js';
import { canTransition, isTooEarly } from './lifecycle.js';
import { newReference } from './reference.js';

/** Schedules jobs idempotently: at most one job per `uniqueKey`, whoever calls and however often. */
export interface Scheduler {
  /** Every job of a hand-over at once (one write where the scheduler can: the jobs of a sweep batch, of a confirmation). */
  schedule(jobs: readonly ScheduledJob[]): Promise<void>;
  /** Removes a reservation's waiting jobs of these names (never a running one); removing none is no error. */
  unschedule(jobs: UnscheduledJobs): Promise<void>;
}

/** Stores a change where every API server's subscribers get it; resolves once stored. */
export interface Publisher {
  publish(update: LiveUpdate): Promise<void>;
}

/**
 * Runs a committed change's hand-over later: the API server passes one that runs it once the HTTP response is sent
 * (app.ts), so the response waits for the commit only. A change is committed once its claim is stored and applied;
 * the claim is the outbox, so a process that dies before the hand-over runs loses nothing (the reconciler,
 * `dispatchPendingEffects`, finishes it).
 */
export type AfterCommit = (work: () => Promise<void>) => void;

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
  config: Pick<Config, 'COMPLETION_GRACE_MINUTES' | 'REMINDER_OFFSETS' | 'CANCELLATION_CUTOFF' | 'CRASH_POINT'>;
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
    /** Where the hand-over of its effects runs; awaited before returning when absent. */
    afterCommit?: AfterCommit;
  }): Promise<StoredReservation>;
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
    /** Where the hand-over of its effects runs; awaited before returning when absent. */
    afterCommit?: AfterCommit;
  }): Promise<StoredReservation>;
  /** Changes a batch (the sweep, the completion job): one command per step. Returns the changes that won. */
  changeStatuses(requests: TransitionRequest[]): Promise<StatusChange[]>;
  /** Finishes changes older than `olderThanMs` whose effects were never handed over; how many it finished. */
  dispatchPendingEffects(opts: { olderThanMs: number; limit: number }): Promise<number>;
}

const isCustomer = (actor: string) => actor.startsWith('customer:');

/**
 * Whether a customer can no longer cancel a reservation starting at `startTime`: from CANCELLATION_CUTOFF before
 * its start (0: from the start itself). Admins always can.
 */
export function cancellationClosed(startTime: Date, now: Date, c: Pick<Config, 'CANCELLATION_CUTOFF'>): boolean {
  return now.getTime() >= startTime.getTime() - intervalMs(c.CANCELLATION_CUTOFF);
}

/** The paths of a new reservation whose values come from the caller: what `Reservation.validate` checks. */
const NEW_RESERVATION_PATHS = Object.freeze(['reference', 'customer', 'startTime', 'partySize', 'notes', 'status']);

/** Changes handed over together at most (their jobs, live events and claims: one command each). */
const MAX_HANDOVER_GROUP = 200;

/** How long a change that lost its claim waits for the winner to apply before finishing the winner's change itself. */
const STALLED_WINNER_MS = 2_000;

export function createStatusService(deps: StatusServiceDeps): StatusService {
  const { scheduler, publisher, config, clock, database, log } = deps;
  const crash = crashHook(config.CRASH_POINT);

  /** Hands over the effects of applied changes, then marks their claims dispatched. A batch's live events are
   *  handed over together, so the publisher stores them in one group insert rather than one by one. */
  async function handOver(claims: StatusClaimRecord[], claimsMarked: MarkClaims = 'each by id'): Promise<void> {
    // Read after the changes were claimed: an endpoint created before a change is seen; one created after it would
    // not be sent that change anyway (it gets the changes made after its creation).
    const webhookEventTypes = await deps.webhooks?.eventTypes().catch((err: unknown) => {
      log.warn({ err }, 'could not read the webhook subscriptions; offering every change to webhooks');
      return undefined;
    });
    const rules = webhookEventTypes ? { ...config, webhookEventTypes } : config;
    // Each change's effects in order: its jobs, the jobs it makes pointless, then its live event. The jobs of every
    // change handed over here go in one write (on FerretDB every write waits its turn at one writer, and a
    // confirmation alone schedules four jobs); if that write fails, none of these changes is marked dispatched.
    const failed = (claim: StatusClaimRecord, err: unknown) =>
      log.warn(
        { err, reservationId: claim.reservation.toString(), eventId: claim.event._id.toString() },
        "could not hand over a status change's effects; dispatch-pending-effects will",
      );
    let effects: (Effects & { claim: StatusClaimRecord })[];
    try {
      effects = claims.map((claim) => ({ claim, ...effectsOf(changeOf(claim), rules) }));
      await scheduler.schedule(effects.flatMap((e) => e.jobs));
    } catch (err) {
      for (const claim of claims) failed(claim, err);
      return;
    }
    const handedOver = await Promise.all(
      effects.map(async ({ claim, unschedule, live }) => {
        try {
          for (const pointless of unschedule) await scheduler.unschedule(pointless);
          await publisher.publish(live);
          return claim._id;
        } catch (err) {
          failed(claim, err);
          return undefined;
        }
      }),
    );
    for (const claim of claims) crash('after-handover', claim.event.to);
    await markDispatched(handedOver.filter((id): id is string => id !== undefined), database, claimsMarked);
  }

  /**
   * Hand-overs passed to `afterCommit` are grouped: what is committed while one group is being handed over goes in
   * the next, together — one subscriptions read, one jobs insert, one live-event insert, one claims mark for all of
   * them — as the live publisher groups its inserts. One request at a time changes nothing; concurrent requests
   * share their hand-over's commands. (A process that dies with changes still queued here loses nothing: each is an
   * undispatched claim, which dispatch-pending-effects finishes.)
   */
  const deferred: StatusClaimRecord[] = [];
  let handingOver = false;

  async function handOverDeferred(): Promise<void> {
    handingOver = true;
    try {
      while (deferred.length > 0) {
        await handOver(deferred.splice(0, MAX_HANDOVER_GROUP)).catch((err: unknown) => {
          log.warn({ err }, 'could not mark status changes dispatched; dispatch-pending-effects will hand them over again');
        });
      }
    } finally {
      handingOver = false;
    }
  }

  /** Hands over now, or passes the hand-over to `afterCommit` (it then runs there, grouped, its failure logged). */
  async function handOverOrDefer(claims: StatusClaimRecord[], afterCommit: AfterCommit | undefined): Promise<void> {
    if (!afterCommit) return handOver(claims);
    afterCommit(async () => {
      deferred.push(...claims);
      if (!handingOver) await handOverDeferred();
    });
  }

  /** Claims and applies: the changes that won, committed. */
  async function commit(requests: TransitionRequest[]): Promise<StatusClaimRecord[]> {
    const won = await claimChanges(requests, clock.now());
    for (const claim of won) crash('after-claim', claim.event.to);
    await applyClaims(won, database);
    for (const claim of won) crash('after-apply', claim.event.to);
    return won;
  }

  async function changeStatuses(requests: TransitionRequest[]): Promise<StatusChange[]> {
    const won = await commit(requests);
    await handOver(won, 'as one batch');
    return won.map(changeOf);
  }

  /** Applies (if need be) and hands over one undispatched claim; false when there was nothing to do. */
  async function finishChange(id: string): Promise<boolean> {
    const claim = await StatusClaim.findById(id).lean<StatusClaimRecord>();
    if (!claim || claim.dispatched) return false;
    await applyClaims([claim], database);
    if (!(await isApplied(claim))) {
      // Its reservation moved on without it (a change of the same version won by other means): no effects.
      await markDispatched([claim._id], database);
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
        // The whole reservation, not only what the claim needs: the winner answers with it as its change left it
        // (asApplied), without reading it back — a change racing in right after this one may already be stored.
        const subject = await Reservation.findOne({ _id: args.id, ...args.scope }).lean();
        if (!subject) throw new TransitionError('NOT_FOUND');
        const from = subject.status as ReservationStatus;
        if (!canTransition(from, args.to)) throw new TransitionError('INVALID_TRANSITION', from, args.to);
        const now = clock.now();
        if (isTooEarly(args.to, subject.startTime, now)) {
          throw new TransitionError('INVALID_TRANSITION', from, args.to, 'A reservation can be marked as a no-show only after its start time');
        }
        if (args.to === ReservationStatus.CANCELLED && isCustomer(args.actor) && cancellationClosed(subject.startTime, now, config)) {
          throw new TransitionError('CANCELLATION_CLOSED', from, args.to);
        }
        const [won] = await commit([{ subject, to: args.to, actor: args.actor, reason: args.reason }]);
        if (won) {
          await handOverOrDefer([won], args.afterCommit);
          return asApplied(subject, won) as StoredReservation;
        }
        await settled(args.id, subject.version);
      }
    },

    async createReservation(args) {
      for (let attempt = 0; ; attempt++) {
        const now = clock.now();
        const event = newStatusEvent(null, ReservationStatus.PENDING, args.actor, undefined, now);
        // A plain object, as stored: a Mongoose document cost more CPU than anything else in this mutation but the
        // database commands (bench `cost`, per-step profiles). The model's rules are still checked, on the values.
        const doc: StoredReservation = {
          _id: new Types.ObjectId(),
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
        } as StoredReservation;
        await Reservation.validate(doc, [...NEW_RESERVATION_PATHS]);
        const claim = {
          _id: claimId(doc._id, 0),
          reservation: doc._id,
          version: 0,
          customer: args.customer,
          startTime: args.startTime,
          event,
          snapshot: doc,
          dispatched: false,
          createdAt: now,
        } as StatusClaimRecord;
        await StatusClaim.collection.insertOne(claim as never);
        crash('after-claim', event.to);
        try {
          await Reservation.collection.insertOne(doc as never);
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
        await handOverOrDefer([claim], args.afterCommit);
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
