// Sign-ups per client address, shared by every API server through MongoDB: SIGNUP_MAX_PER_ADDRESS within
// SIGNUP_WINDOW, then TOO_MANY_REQUESTS with a retry-after.
//
// The same design as the log-in limits (login-limits.ts, which says why): one document per attempt, inserted
// before the account is created and then counted, so that concurrent sign-ups on any number of servers let at
// most the limit through. Unlike a log-in, a sign-up is never forgiven: a successful one is what the limit
// counts, and a refused one (an email or username already taken) still tells the client something, so it counts
// too. Only one refused for the limit itself removes its record, so waiting out the window is enough.
import { Schema, model } from 'mongoose';
import { intervalMs, type Config } from '../config.js';
import { TooManyAttemptsError } from './login-limits.js';

const signUpAttemptSchema = new Schema(
  {
    /** The client's address key (login-limits.ts addressKey: IPv6 by its /64). */
    address: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { versionKey: false },
);
signUpAttemptSchema.index({ address: 1, at: -1 });
// Pruning (no TTL index: FerretDB 1.24 has none).
signUpAttemptSchema.index({ at: 1 });

export const SignUpAttempt = model('SignUpAttempt', signUpAttemptSchema, 'signUpAttempts');

export interface SignUpLimiter {
  /**
   * Records a sign-up from `clientAddress` before the account is created; throws TooManyAttemptsError (with a
   * retry-after) when it would be more than SIGNUP_MAX_PER_ADDRESS within SIGNUP_WINDOW. Without an address (a
   * transport that does not know it) nothing is counted.
   */
  begin(clientAddress: string | undefined): Promise<void>;
}

/** One per API server: it remembers when it last pruned expired attempts. */
export function createSignUpLimiter(c: Config): SignUpLimiter {
  let lastPrunedAt = 0;
  return {
    async begin(address) {
      if (!address) return;
      const windowMs = intervalMs(c.SIGNUP_WINDOW);
      const now = Date.now();
      if (now - lastPrunedAt >= windowMs) {
        lastPrunedAt = now;
        await SignUpAttempt.deleteMany({ at: { $lte: new Date(now - windowMs) } });
      }
      const since = new Date(now - windowMs);
      const { _id: id } = await SignUpAttempt.create({ address, at: new Date(now) });
      const max = c.SIGNUP_MAX_PER_ADDRESS;
      if ((await SignUpAttempt.countDocuments({ address, at: { $gt: since } })) <= max) return;
      await SignUpAttempt.deleteOne({ _id: id });
      // The max-th newest sign-up: once it leaves the window, one more is allowed.
      const pivot = await SignUpAttempt.findOne({ address, at: { $gt: since } })
        .sort({ at: -1 })
        .skip(max - 1)
        .select({ at: 1 })
        .lean();
      const until = pivot ? pivot.at.getTime() + windowMs : Date.now();
      throw new TooManyAttemptsError(Math.max(1, Math.ceil((until - Date.now()) / 1000)), 'sign-ups from this address');
    },
  };
}
