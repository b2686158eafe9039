// Opaque page cursors over the listing order (src/db/keyset.ts).
import { Types } from 'mongoose';
import type { Position } from '../../db/keyset.js';
import { badInput } from '../errors.js';

export function encodeCursor(p: Position): string {
  return Buffer.from(`${p.startTime.getTime()}:${p.id.toHexString()}`).toString('base64url');
}

export function decodeCursor(cursor: string): Position {
  const m = /^(-?\d{1,15}):([0-9a-f]{24})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw badInput('after is not a valid cursor', 'after');
  return { startTime: new Date(Number(m[1])), id: new Types.ObjectId(m[2]) };
}
