import { Schema, Types, model, type HydratedDocument, type InferSchemaType } from 'mongoose';
import { ReservationStatus } from './status.js';
import { statusEventSchema } from './status-event.js';

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
    /** The number of events in `history`: the version a change starts from (src/status/claims.ts). */
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
/** A reservation as stored and read with `.lean()`: what the status pipeline builds and answers with. */
export type StoredReservation = ReservationRecord & { _id: Types.ObjectId };

export const Reservation = model('Reservation', reservationSchema);

/** What a status change needs to know about the reservation it changes. */
export type TransitionSubject = Pick<ReservationRecord, 'version' | 'status' | 'customer' | 'startTime'> & { _id: Types.ObjectId };
export const TRANSITION_SUBJECT_FIELDS = Object.freeze({ _id: 1, version: 1, status: 1, customer: 1, startTime: 1 } as const);
