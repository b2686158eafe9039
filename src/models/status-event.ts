import { Schema, Types, type InferSchemaType } from 'mongoose';
import { ReservationStatus } from './status.js';

export const statusEventSchema = new Schema(
  {
    from: { type: String, enum: [...Object.values(ReservationStatus), null], default: null },
    to: { type: String, enum: Object.values(ReservationStatus), required: true },
    at: { type: Date, required: true },
    actor: { type: String, required: true },
    reason: { type: String },
  },
  { _id: true },
);

export type StatusEventRecord = InferSchemaType<typeof statusEventSchema> & { _id: Types.ObjectId };

export function newStatusEvent(
  from: ReservationStatus | null,
  to: ReservationStatus,
  actor: string,
  reason?: string | null,
  at = new Date(),
): StatusEventRecord {
  return { _id: new Types.ObjectId(), from, to, at, actor, ...(reason ? { reason } : {}) } as StatusEventRecord;
}
