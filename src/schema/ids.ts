import { Types } from 'mongoose';
import { badInput } from './errors.js';

/** A client-supplied id as an ObjectId; BAD_USER_INPUT when malformed (never a cast error from the driver). */
export function parseId(id: unknown, field = 'id'): Types.ObjectId {
  if (typeof id !== 'string' || !/^[0-9a-fA-F]{24}$/.test(id)) throw badInput(`${field} is not a valid id`, field);
  return new Types.ObjectId(id);
}
