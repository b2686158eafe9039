// Storage of the cross-process channel: one document per published status change, numbered 1, 2, 3… in the
// order the events became visible (publisher.ts explains how), so a feed only ever asks "is there an n + 1?".
import { Schema, Types, model, type InferSchemaType } from 'mongoose';
import { statusEventSchema, type StatusEventRecord } from '../models/status-event.js';

/**
 * Events kept for a feed that falls a little behind; older ones are deleted. Few on purpose: FerretDB 1.24
 * (SQLite) scans the whole collection for every query, so each kept event costs every read a little.
 */
export const RETAINED_EVENTS = 200;

const liveEventSchema = new Schema(
  {
    /** The sequence number, as sequenceKey() makes it: unique, so taking a number is atomic everywhere. */
    _id: { type: Schema.Types.ObjectId, required: true },
    reservationId: { type: Schema.Types.ObjectId, required: true },
    customerId: { type: Schema.Types.ObjectId, required: true },
    // The status event itself, its id included. Not unique here: a change whose process died may be published
    // again by dispatch-pending-effects; feeds drop repeats by event id.
    event: { type: statusEventSchema, required: true },
  },
  // Capped: feeds tail it (feed.ts) with an awaitData cursor instead of polling, and it keeps the newest events
  // by itself. `max` is what a feed that falls a little behind can still catch up from.
  { collection: 'liveEvents', versionKey: false, capped: { size: 1024 * 1024, max: RETAINED_EVENTS } },
);

export type LiveEventRecord = Omit<InferSchemaType<typeof liveEventSchema>, 'event'> & { event: StatusEventRecord };
export const LiveEvent = model('LiveEvent', liveEventSchema);

// Numbers are stored as ObjectIds (the number in hex, zero-padded: same order) because an equality match on an
// ObjectId `_id` is the one query FerretDB 1.24 (SQLite) hands down to SQL; any other filter or sort decodes
// every document (measured on 250 events: 2 ms for `_id` equality, 17 ms for `_id: {$gt}`).
export const sequenceKey = (n: number) => new Types.ObjectId(n.toString(16).padStart(24, '0'));
export const sequenceNumber = (key: Types.ObjectId) => Number.parseInt(key.toHexString(), 16);

/** The number of the newest event; 0 when there is none. */
export async function lastSequenceNumber(): Promise<number> {
  const newest = await LiveEvent.findOne({}, { _id: 1 }).sort({ _id: -1 }).lean();
  return newest ? sequenceNumber(newest._id) : 0;
}
