// The claim → apply steps of a status change, on the database.
//
// Why a claim rather than a conditional update ({_id, status: 'PENDING'} → CONFIRMED): FerretDB 1.24 does not
// apply an update's filter and write atomically (src/db/writes.ts), so a conditional update cannot pick one winner
// there. A change from version N of a reservation (N = events in its history) therefore first inserts the claim
// `<reservationId>:<N>`: exactly one contender can, the rest lose the race with nothing written.
//
// The claim then doubles as the commit record and the outbox: it holds the event (and, for a creation, the whole
// new reservation), so a process that dies after inserting it loses nothing. Whoever finds it undispatched later
// applies what was not applied and hands over what was not handed over.
import type { Types } from 'mongoose';
import type { DatabaseCapabilities } from '../db/connect.js';
import { bulkUpdate, insertEachOnce } from '../db/writes.js';
import { Reservation, type TransitionSubject } from '../models/reservation.js';
import { StatusClaim, type StatusClaimRecord } from '../models/status-claim.js';
import { ReservationStatus } from '../models/status.js';
import { newStatusEvent } from '../models/status-event.js';
import type { StatusChange } from './effects.js';

export interface TransitionRequest {
  subject: TransitionSubject;
  to: ReservationStatus;
  actor: string;
  reason?: string | null;
}

export const claimId = (reservationId: Types.ObjectId | string, version: number) => `${reservationId.toString()}:${version}`;

/** A claim as the change its effects are computed from. */
export function changeOf(claim: StatusClaimRecord): StatusChange {
  return {
    reservationId: claim.reservation.toString(),
    customerId: claim.customer.toString(),
    startTime: claim.startTime,
    event: claim.event,
  };
}

/**
 * Claims one change per request (one command); a request whose claim already exists lost a race (another change
 * started from the same version) and is left out of the result.
 */
export async function claimChanges(requests: TransitionRequest[], now: Date): Promise<StatusClaimRecord[]> {
  const claims = requests.map(({ subject, to, actor, reason }) => ({
    _id: claimId(subject._id, subject.version),
    reservation: subject._id,
    version: subject.version,
    customer: subject.customer,
    startTime: subject.startTime,
    event: newStatusEvent(subject.status as ReservationStatus, to, actor, reason, now),
    dispatched: false,
    createdAt: now,
  }));
  return (await insertEachOnce(StatusClaim.collection, claims)) as StatusClaimRecord[];
}

/** The fields a claimed change sets on its reservation (beside the event it appends to the history). */
function fieldsSetBy(claim: StatusClaimRecord) {
  const { event } = claim;
  return {
    status: event.to,
    version: claim.version + 1,
    updatedAt: event.at,
    ...(event.to === ReservationStatus.CANCELLED && event.reason ? { cancellationReason: event.reason } : {}),
  };
}

/** The write that applies a claimed change to its reservation: status and event together, in one document. */
function applyOperation(claim: StatusClaimRecord) {
  return {
    updateOne: {
      // Conditional on the version: applying a claim twice (its owner and a rescuer) changes nothing.
      filter: { _id: claim.reservation, version: claim.version },
      update: { $set: fieldsSetBy(claim), $push: { history: claim.event } },
    },
  };
}

/**
 * The reservation `doc` (as read at the claim's version) as applying the claim leaves it: what the write above
 * stores, computed in memory, so the winner of a change answers without reading its result back.
 */
export function asApplied<T extends { history: unknown[] }>(doc: T, claim: StatusClaimRecord): T {
  return { ...doc, ...fieldsSetBy(claim), history: [...doc.history, claim.event] };
}

/** Applies claimed changes to their reservations (a creation's claim inserts its snapshot). */
export async function applyClaims(claims: StatusClaimRecord[], capabilities: DatabaseCapabilities): Promise<void> {
  const creations = claims.filter((c) => c.version === 0 && c.snapshot);
  const changes = claims.filter((c) => !(c.version === 0 && c.snapshot));
  if (creations.length) await insertEachOnce(Reservation.collection, creations.map((c) => c.snapshot as object));
  await bulkUpdate(Reservation.collection, changes.map(applyOperation) as never[], capabilities);
}

/** Whether the claim's event is the one its reservation's history holds at the claim's version. */
export async function isApplied(claim: StatusClaimRecord): Promise<boolean> {
  const doc = await Reservation.findById(claim.reservation, { history: 1 }).lean();
  return doc?.history?.[claim.version]?._id?.equals(claim.event._id) ?? false;
}

/**
 * How a hand-over's claims are marked dispatched. On MongoDB both are one index-served command. On FerretDB they
 * differ: it answers an `_id` equality from its index, but reads every claim ever made for an `_id` `$in` (its other
 * filters cannot narrow the scan either).
 * - `each by id`: one `_id` statement per claim, in commands of as many as the server takes (8 on FerretDB). For
 *   mutations, one or a group of concurrent ones: their cost stays with the group, however many claims there are.
 *   (Measured on FerretDB/SQLite: api-create went from 170 to 336 req/s and its p99 from 2.3 to 0.8 s. With `$in`
 *   above a size instead, a slow hand-over made the next group bigger, which then scanned: 120 req/s, p99 2.6 s.)
 * - `as one batch`: one `$in` update. For a batch of a fixed size that the process chose (a sweep batch of 200),
 *   where 25 commands of 8 statements cost FerretDB more than its scan (the sweep bench: 51 against 36 docs/s).
 */
export type MarkClaims = 'each by id' | 'as one batch';

/** Marks claims whose effects were handed over (see MarkClaims). */
export async function markDispatched(ids: string[], capabilities: DatabaseCapabilities, how: MarkClaims = 'each by id'): Promise<void> {
  if (ids.length === 0) return;
  const update = { $set: { dispatched: true } };
  if (how === 'each by id') {
    await bulkUpdate(StatusClaim.collection, ids.map((_id) => ({ updateOne: { filter: { _id, dispatched: false }, update } })) as never[], capabilities);
    return;
  }
  // `dispatched: false` changes nothing on MongoDB (the _id index finds them) but narrows what FerretDB writes back.
  await StatusClaim.collection.updateMany({ _id: { $in: ids }, dispatched: false } as never, update);
}

/** Undispatched claims older than `before`, oldest first: changes whose process stopped before handing them over. */
export function pendingClaims(before: Date, limit: number): Promise<StatusClaimRecord[]> {
  return StatusClaim.find({ dispatched: false, createdAt: { $lt: before } })
    .sort({ createdAt: 1 })
    .limit(limit)
    .lean<StatusClaimRecord[]>();
}
