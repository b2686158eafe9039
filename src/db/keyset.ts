// Keyset pagination over (startTime, _id), the order of listings and of the completion sweep: stable under
// inserts, no repeats or gaps, and each page an index range rather than a skip.
import type { Types } from 'mongoose';

export interface Position {
  startTime: Date;
  id: Types.ObjectId;
}

/** The filter for "strictly after this position" in (startTime, _id) order. */
export function afterPosition(p: Position) {
  return { $or: [{ startTime: { $gt: p.startTime } }, { startTime: p.startTime, _id: { $gt: p.id } }] };
}
