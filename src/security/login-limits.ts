// Log-in attempt limits per email and per client address, shared by every API server through MongoDB.
//
// Why one document per attempt rather than a counter per key: FerretDB 1.24 applies an update's filter and its
// write non-atomically (see src/db/writes.ts), so concurrent `$inc`s or conditional upserts can
// overwrite each other and lose counts. Inserts never conflict, and counting the documents of a window gives
// the same answer on every server.
//
// Why the attempt is recorded before the password is checked: checking first and recording after a failure
// lets a burst of concurrent guesses all pass the check before any of them is counted. Recording first, then
// counting, lets at most the limit's worth through: of the attempts that go ahead, the last to count sees all
// the others. An attempt that turns out right removes its record (and the email's failures); one that is
// refused removes its own, so waiting out the window is enough to get back in.
import { createHmac } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { Schema, model } from 'mongoose';
import { intervalMs, type Config } from '../config.js';

const loginAttemptSchema = new Schema(
  {
    /** A keyed hash of the normalized email: fixed size whatever was typed, and no list of addresses at rest. */
    email: { type: String, required: true },
    /** The client's address (IPv6: its /64), when the transport knows it. */
    address: { type: String },
    at: { type: Date, required: true },
  },
  { versionKey: false },
);
loginAttemptSchema.index({ email: 1, at: -1 });
loginAttemptSchema.index({ address: 1, at: -1 });
// Pruning (no TTL index: FerretDB 1.24 has none).
loginAttemptSchema.index({ at: 1 });

export const LoginAttempt = model('LoginAttempt', loginAttemptSchema, 'loginAttempts');

/**
 * The key an address is counted under: IPv4 as is, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64, since one
 * client is usually handed a whole /64 and could otherwise rotate through it.
 */
export function addressKey(ip: string | undefined): string | undefined {
  if (!ip || !ipaddr.isValid(ip)) return undefined;
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return address.toString();
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/64`).toString()}/64`;
}

export interface LogInAttempt {
  /** The password was right: the attempt was no failure, and the email's earlier failures are forgiven. */
  succeeded(): Promise<void>;
}

/** Past the limits: the caller shows it as TOO_MANY_REQUESTS (GraphQL) or HTTP 429 (the admin pages). */
export class TooManyAttemptsError extends Error {
  override readonly name = 'TooManyAttemptsError';
  /** `what` is what there were too many of (sign-ups use it too: security/signup-limits.ts). */
  constructor(readonly retryAfterSeconds: number, what = 'failed log-in attempts') {
    super(`Too many ${what}; try again in ${retryAfterSeconds} second${retryAfterSeconds === 1 ? '' : 's'}`);
  }
}

export interface LoginLimiter {
  /**
   * Records a log-in attempt before its password is checked; throws TooManyAttemptsError (with a retry-after) when
   * it would exceed LOGIN_MAX_ATTEMPTS failures for the email or LOGIN_MAX_ATTEMPTS_PER_ADDRESS for the address
   * within LOGIN_WINDOW. Unknown emails are counted like known ones, so the answer says nothing about which exist.
   */
  begin(who: { email: string; clientAddress?: string }): Promise<LogInAttempt>;
}

/** One per API server: it remembers when it last pruned expired attempts. */
export function createLoginLimiter(c: Config): LoginLimiter {
  let lastPrunedAt = 0;
  return {
    async begin(who) {
      const windowMs = intervalMs(c.LOGIN_WINDOW);
      const now = Date.now();
      if (now - lastPrunedAt >= windowMs) {
        lastPrunedAt = now;
        await LoginAttempt.deleteMany({ at: { $lte: new Date(now - windowMs) } });
      }
      return beginLogInAttempt(who, c, now, windowMs);
    },
  };
}

async function beginLogInAttempt(
  who: { email: string; clientAddress?: string },
  c: Config,
  now: number,
  windowMs: number,
): Promise<LogInAttempt> {
  const since = new Date(now - windowMs);

  const email = emailKey(who.email, c);
  const { _id: id } = await LoginAttempt.create({ email, address: who.clientAddress, at: new Date(now) });
  const limits: { filter: Record<string, string>; max: number }[] = [{ filter: { email }, max: c.LOGIN_MAX_ATTEMPTS }];
  if (who.clientAddress) limits.push({ filter: { address: who.clientAddress }, max: c.LOGIN_MAX_ATTEMPTS_PER_ADDRESS });

  const exceeded = (
    await Promise.all(
      limits.map(async (l) =>
        (await LoginAttempt.countDocuments({ ...l.filter, at: { $gt: since } })) > l.max ? l : undefined,
      ),
    )
  ).filter((l) => l !== undefined);

  if (exceeded.length > 0) {
    await LoginAttempt.deleteOne({ _id: id });
    const waits = await Promise.all(exceeded.map((l) => secondsUntilBelow(l.filter, l.max, since, windowMs)));
    throw new TooManyAttemptsError(Math.max(...waits));
  }

  return {
    async succeeded() {
      await LoginAttempt.deleteMany({ $or: [{ _id: id }, { email }] });
    },
  };
}

/** Seconds until fewer than `max` attempts matching `filter` remain in the window (at least 1). */
async function secondsUntilBelow(
  filter: Record<string, string>,
  max: number,
  since: Date,
  windowMs: number,
): Promise<number> {
  // The max-th newest attempt: once it leaves the window, one more is allowed.
  const pivot = await LoginAttempt.findOne({ ...filter, at: { $gt: since } })
    .sort({ at: -1 })
    .skip(max - 1)
    .select({ at: 1 })
    .lean();
  const until = pivot ? pivot.at.getTime() + windowMs : Date.now();
  return Math.max(1, Math.ceil((until - Date.now()) / 1000));
}

function emailKey(email: string, c: Config): string {
  return createHmac('sha256', c.JWT_SECRET).update(`login-attempt:${email}`).digest('base64url');
}
