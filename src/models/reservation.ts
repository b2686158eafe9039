import { randomInt } from 'node:crypto';
import { Schema, Types, model, type HydratedDocument, type InferSchemaType } from 'mongoose';
import { ReservationStatus, canTransition } from './status.js';
import { newStatusEvent, statusEventSchema } from './status-event.js';
import { StatusClaim, claimId, isDuplicateKey, type StatusClaimRecord } from './status-claim.js';
import { updatesPerCommand } from '../db/connect.js';
import { dispatchClaims } from './effects.js';

export { newStatusEvent, type StatusEventRecord } from './status-event.js';

const reservationSchema = new Schema(
  {
    reference: { type: String, required: true, unique: true },
    customer: { type: Schema.Types.ObjectId, ref: 'User', required: true },
    startTime: { type: Date, required: true },
    partySize: { type: Number, required: true, min: 1, max: 50 },
    notes: { type: String, maxlength: 1000 },
    status: { type: String, enum: Object.values(ReservationStatus), required: true, default: ReservationStatus.PENDING },
    cancellationReason: { type: String },
    // The status history lives inside the reservation document, so a status and its event are one write:
    // no crash can leave one without the other.
    history: { type: [statusEventSchema], default: [] },
    /** The number of events in `history`: the version a change starts from (see status-claim.ts). */
    version: { type: Number, required: true, default: 1 },
  },
  { timestamps: true },
);

// Listing (admin, optionally by status) and per customer, in the pagination order (startTime, _id).
reservationSchema.index({ startTime: 1, _id: 1 });
reservationSchema.index({ customer: 1, startTime: 1, _id: 1 });
// The completion sweep (status = CONFIRMED, startTime <= cutoff) and status-filtered listings.
reservationSchema.index({ status: 1, startTime: 1, _id: 1 });

export type ReservationRecord = InferSchemaType<typeof reservationSchema>;
export type ReservationDocument = HydratedDocument<ReservationRecord>;

export const Reservation = model('Reservation', reservationSchema);

// Crockford base32 without I, L, O, U: unambiguous when read aloud or typed from an email subject.
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export function newReference(length = 8): string {
  let s = '';
  for (let i = 0; i < length; i++) s += CROCKFORD[randomInt(32)];
  return s;
}

export class TransitionError extends Error {
  constructor(
    readonly kind: 'NOT_FOUND' | 'INVALID_TRANSITION',
    readonly current?: ReservationStatus,
    readonly to?: ReservationStatus,
  ) {
    super(
      kind === 'NOT_FOUND'
        ? 'Reservation not found'
        : `Cannot change a ${current?.toLowerCase()} reservation to ${to?.toLowerCase()}`,
    );
  }
}

/** What a status change needs to know about the reservation it changes. */
export type TransitionSubject = Pick<ReservationRecord, 'version' | 'status' | 'customer' | 'startTime'> & { _id: Types.ObjectId };
export const TRANSITION_SUBJECT_FIELDS = { _id: 1, version: 1, status: 1, customer: 1, startTime: 1 } as const;

export interface TransitionRequest {
  subject: TransitionSubject;
  to: ReservationStatus;
  actor: string;
  reason?: string | null;
}

/**
 * Phase 1 of every status change: claim it. Inserts one claim per request; a request whose claim already exists
 * lost a race (another change started from the same version) and is left out of the result. Nothing else is
 * written for losers: no event, no email, no live update.
 */
export async function claimTransitions(requests: TransitionRequest[]): Promise<StatusClaimRecord[]> {
  const claims = requests.map(({ subject, to, actor, reason }) => ({
    _id: claimId(subject._id, subject.version),
    reservation: subject._id,
    seq: subject.version,
    customer: subject.customer,
    startTime: subject.startTime,
    event: newStatusEvent(subject.status as ReservationStatus, to, actor, reason),
    dispatched: false,
    createdAt: new Date(),
  }));
  if (claims.length === 0) return [];
  try {
    await StatusClaim.collection.insertMany(claims as never[], { ordered: false });
    return claims as StatusClaimRecord[];
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const lost = new Set(((err as { writeErrors?: { index: number }[] }).writeErrors ?? []).map((w) => w.index));
    if (lost.size === 0) lost.add(0); // a single-document insert reports the duplicate without writeErrors
    return claims.filter((_, i) => !lost.has(i)) as StatusClaimRecord[];
  }
}

/** The write that applies a claimed change to its reservation: status and event together, in one document. */
function applyOperation(claim: StatusClaimRecord) {
  const { event } = claim;
  return {
    updateOne: {
      // Conditional on the version: applying a claim twice (its owner and a reconciler) changes nothing.
      filter: { _id: claim.reservation, version: claim.seq },
      update: {
        $set: {
          status: event.to,
          version: claim.seq + 1,
          updatedAt: event.at,
          ...(event.to === ReservationStatus.CANCELLED && event.reason ? { cancellationReason: event.reason } : {}),
        },
        $push: { history: event },
      },
    },
  };
}

/** Phase 2: apply claimed changes, in bulk writes of as many as the server takes at once. */
export async function applyClaims(claims: StatusClaimRecord[]): Promise<void> {
  const size = updatesPerCommand();
  for (let i = 0; i < claims.length; i += size) {
    await Reservation.collection.bulkWrite(claims.slice(i, i + size).map(applyOperation) as never[], { ordered: false });
  }
}

/**
 * Phases 1–3 for a batch: claim, apply, dispatch effects. The one path of every status change: mutations,
 * the completion sweep and the one-off completion job all come through here. Returns the changes that won.
 */
export async function changeStatuses(requests: TransitionRequest[]): Promise<StatusClaimRecord[]> {
  const won = await claimTransitions(requests);
  await applyClaims(won);
  await dispatchClaims(won);
  return won;
}

/** Waits until the reservation has moved past `version` (another change won and is being applied). */
async function settled(id: Types.ObjectId, version: number): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (Date.now() < deadline) {
    const doc = await Reservation.findOne({ _id: id }, { version: 1 }).lean();
    if (!doc || doc.version > version) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  // The winner stalled or died between claiming and applying: finish its change for it.
  await recoverClaim(claimId(id, version));
}

/**
 * The status transition of one reservation, for mutations. Of N racing transitions exactly one wins; the
 * others see the new status and get INVALID_TRANSITION if the move is no longer valid from it (a cancel racing
 * a confirm still succeeds, after it, with the right `from`). `scope` narrows what may be touched (a customer's
 * own reservations: another's is NOT_FOUND).
 */
export async function transitionReservation(args: {
  id: Types.ObjectId;
  to: ReservationStatus;
  actor: string;
  reason?: string | null;
  scope?: Record<string, unknown>;
}): Promise<ReservationDocument> {
  for (;;) {
    const subject = await Reservation.findOne({ _id: args.id, ...args.scope }, TRANSITION_SUBJECT_FIELDS).lean();
    if (!subject) throw new TransitionError('NOT_FOUND');
    const from = subject.status as ReservationStatus;
    if (!canTransition(from, args.to)) throw new TransitionError('INVALID_TRANSITION', from, args.to);
    const [won] = await changeStatuses([{ subject, to: args.to, actor: args.actor, reason: args.reason }]);
    if (won) return (await Reservation.findById(args.id))!;
    await settled(args.id, subject.version);
  }
}

/** Creates a reservation with its creation event, through a claim like every other change. */
export async function createReservation(args: {
  customer: Types.ObjectId;
  startTime: Date;
  partySize: number;
  notes?: string | null;
  actor: string;
}): Promise<ReservationDocument> {
  for (let attempt = 0; ; attempt++) {
    const event = newStatusEvent(null, ReservationStatus.PENDING, args.actor);
    const doc = new Reservation({
      reference: newReference(),
      customer: args.customer,
      startTime: args.startTime,
      partySize: args.partySize,
      ...(args.notes ? { notes: args.notes } : {}),
      status: ReservationStatus.PENDING,
      history: [event],
      version: 1,
      createdAt: event.at,
      updatedAt: event.at,
    });
    await doc.validate();
    const claim = {
      _id: claimId(doc._id, 0),
      reservation: doc._id,
      seq: 0,
      customer: args.customer,
      startTime: args.startTime,
      event,
      snapshot: doc.toObject(),
      dispatched: false,
      createdAt: new Date(),
    };
    await StatusClaim.collection.insertOne(claim as never);
    try {
      await Reservation.collection.insertOne(doc.toObject() as never);
    } catch (err) {
      // Our _id already stored: a worker's reconciler rolled this claim forward while we were slow. It is ours.
      if (isDuplicateKey(err) && (await Reservation.exists({ _id: doc._id }))) {
        await dispatchClaims([claim as unknown as StatusClaimRecord]);
        return doc;
      }
      await StatusClaim.collection.deleteOne({ _id: claim._id } as never);
      // A reference collision (1 in 10^12 per pair): draw another.
      if (isDuplicateKey(err) && /reference/.test(String((err as Error).message)) && attempt < 4) continue;
      throw err;
    }
    await dispatchClaims([claim as unknown as StatusClaimRecord]);
    return doc;
  }
}

/**
 * Finishes a change whose process stopped between claiming and dispatching: applies it if it was not
 * applied (or inserts the reservation, for a creation), then dispatches its effects. Safe to run any number of
 * times, from any process. Returns false when the claim no longer matches its reservation (nothing to do).
 */
export async function recoverClaim(id: string): Promise<boolean> {
  const claim = await StatusClaim.findById(id).lean<StatusClaimRecord>();
  if (!claim || claim.dispatched) return false;
  if (claim.seq === 0 && claim.snapshot) {
    try {
      await Reservation.collection.insertOne(claim.snapshot as never);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  } else {
    await applyClaims([claim]);
  }
  const doc = await Reservation.findById(claim.reservation, { history: 1 }).lean();
  const applied = doc?.history?.[claim.seq]?._id?.equals(claim.event._id) ?? false;
  if (!applied) {
    // Its reservation moved on without it (a change of the same version won by other means): no effects.
    await StatusClaim.updateOne({ _id: id }, { $set: { dispatched: true } });
    return false;
  }
  await dispatchClaims([claim]);
  return true;
}

/** Claims older than `olderThanMs` whose effects were never dispatched (their process died): finish them. */
export async function recoverStaleClaims(olderThanMs: number, limit = 500): Promise<number> {
  const stale = await StatusClaim.find(
    { dispatched: false, createdAt: { $lt: new Date(Date.now() - olderThanMs) } },
    { _id: 1 },
  )
    .sort({ createdAt: 1 })
    .limit(limit)
    .lean();
  let recovered = 0;
  for (const { _id } of stale) if (await recoverClaim(_id as string)) recovered++;
  return recovered;
}
