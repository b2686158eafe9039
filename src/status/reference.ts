import { randomInt } from 'node:crypto';

// Crockford base32 without I, L, O, U: unambiguous when read aloud or typed from an email subject.
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A reservation's short, human-friendly reference (8 characters: 32^8 ≈ 10^12 values). */
export function newReference(length = 8): string {
  let s = '';
  for (let i = 0; i < length; i++) s += CROCKFORD[randomInt(32)];
  return s;
}
