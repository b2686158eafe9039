// Status claims: the lock, the commit record and the outbox of every status change (src/status/claims.ts says
// how they are used). A change from version N of a reservation is claimed by inserting `<reservationId>:<N>`.
import { Schema, model, type InferSchemaType } from 'mongoose';
import { statusEventSchema, type StatusEventRecord } from './status-event.js';

const statusClaimSchema = new Schema(
  {
    _id: { type: String, required: true },
    reservation: { type: Schema.Types.ObjectId, required: true },
    /** The reservation's version this change starts from (its history length before the change). */
    version: { type: Number, required: true },
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

// The pending-effects query: undispatched claims, oldest first.
statusClaimSchema.index({ dispatched: 1, createdAt: 1 });

export type StatusClaimRecord = Omit<InferSchemaType<typeof statusClaimSchema>, 'event'> & {
  _id: string;
  event: StatusEventRecord;
};

export const StatusClaim = model('StatusClaim', statusClaimSchema, 'statusclaims');
