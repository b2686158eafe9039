// Status claims: the lock, the commit record and the outbox of every status change.
//
// Why not just a conditional update ({_id, status: 'PENDING'} → CONFIRMED)? Because FerretDB 1.24 does not
// evaluate an update's filter and write its result atomically: it reads matching documents, applies the update
// in its own process and writes the whole document back (internal/backends/sqlite/collection.go, UpdateAll:
// `UPDATE … SET _ferretdb_sqlite_json = ? WHERE _id = ?`). Five concurrent
// `findOneAndUpdate({_id, status: 'P'}, …)` calls all "win" there, and their writes overwrite each other.
// What both FerretDB and MongoDB do enforce atomically is a unique key on insert. So a change from version N of
// a reservation (N = events in its history) first inserts the claim `<reservationId>:<N>`: exactly one
// contender can, the rest get a duplicate-key error and lose the race with nothing written.
//
// The claim then doubles as the commit record and outbox: it holds the event (and, for a creation, the whole
// new reservation), so a process that dies after inserting it loses nothing — the worker's reconciler applies
// what was not applied and dispatches what was not dispatched.
import { Schema, Types, model, type InferSchemaType } from 'mongoose';
import { statusEventSchema, type StatusEventRecord } from './status-event.js';

const statusClaimSchema = new Schema(
  {
    _id: { type: String, required: true },
    reservation: { type: Schema.Types.ObjectId, required: true },
    /** The reservation's version this change starts from (its history length before the change). */
    seq: { type: Number, required: true },
    customer: { type: Schema.Types.ObjectId, required: true },
    startTime: { type: Date, required: true },
    event: { type: statusEventSchema, required: true },
    /** Creation only: the reservation as first inserted, so a crash before the insert can be rolled forward. */
    snapshot: { type: Schema.Types.Mixed },
    /** Set once the change's effects (jobs, live event) were handed over. */
    dispatched: { type: Boolean, required: true, default: false },
    createdAt: { type: Date, required: true, default: () => new Date() },
  },
  { _id: false, versionKey: false },
);

// The reconciler's query: undispatched claims, oldest first.
statusClaimSchema.index({ dispatched: 1, createdAt: 1 });

export type StatusClaimRecord = Omit<InferSchemaType<typeof statusClaimSchema>, 'event'> & {
  _id: string;
  event: StatusEventRecord;
};

export const StatusClaim = model('StatusClaim', statusClaimSchema, 'statusclaims');

export const claimId = (reservationId: Types.ObjectId | string, seq: number) => `${reservationId.toString()}:${seq}`;

export function isDuplicateKey(err: unknown): boolean {
  const e = err as { code?: number; writeErrors?: { code?: number }[] };
  return e?.code === 11000 || (e?.writeErrors?.length ?? 0) > 0 && e.writeErrors!.every((w) => w.code === 11000);
}
