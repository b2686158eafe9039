// Opaque page cursors over the listing order (startTime, _id): stable under inserts, no repeats or gaps.
import { Types } from 'mongoose';
import { badInput } from '../errors.js';

export interface Position {
  startTime: Date;
  id: Types.ObjectId;
}

export function encodeCursor(p: Position): string {
  return Buffer.from(`${p.startTime.getTime()}:${p.id.toHexString()}`).toString('base64url');
}

export function decodeCursor(cursor: string): Position {
  const m = /^(-?\d{1,15}):([0-9a-f]{24})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw badInput('after is not a valid cursor', 'after');
  return { startTime: new Date(Number(m[1])), id: new Types.ObjectId(m[2]) };
}

/** The filter for "strictly after this position" in (startTime, _id) order. */
export function afterFilter(p: Position) {
  return { $or: [{ startTime: { $gt: p.startTime } }, { startTime: p.startTime, _id: { $gt: p.id } }] };
}
