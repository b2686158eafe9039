// Who may use the operator pages (the job dashboard): admins, signed in from a browser with HTTP Basic auth
// (their email and password, the same check and the same log-in limits as the `logIn` mutation), or from a
// script with `Authorization: Bearer <token>` from `logIn`. The account is read on every request, so an admin
// who is demoted or deleted loses access at once, whatever their token says.
//
// Anonymous requests and wrong credentials get 401 with a Basic challenge (the browser's sign-in prompt);
// a valid customer gets 403.
import { createHmac, randomBytes } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { GraphQLError } from 'graphql';
import { Types } from 'mongoose';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { DUMMY_HASH, verifyPassword } from '../lib/password.js';
import { Role } from '../models/status.js';
import { User } from '../models/user.js';
import { verifyToken } from '../schema/auth.js';
import { addressKey, TooManyAttemptsError, type LoginLimiter } from '../security/login-limits.js';

export const ADMIN_REALM = 'jobs';

/** What `adminOnly` leaves on `res.locals` for the handlers behind it. */
export interface AdminLocals {
  adminId: string;
}

/**
 * A browser sends its Basic credentials with every request (each asset, each dashboard refresh). Checking the
 * password each time would cost a scrypt hash and a log-in attempt record per request, so a successful check
 * is remembered for a minute under a keyed hash of the header: the password itself is never kept.
 */
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_MAX = 1000;

type Outcome =
  | { ok: true; userId: string }
  | { ok: false; status: 401 | 429; reason: string; challenge: string; retryAfterSeconds?: number };

export function adminOnly(opts: { config: Config; log: Logger; loginLimiter: LoginLimiter; realm?: string }): RequestHandler {
  const { config: c, log } = opts;
  const basicChallenge = `Basic realm="${opts.realm ?? ADMIN_REALM}"`;
  const cacheKey = randomBytes(32);
  const verified = new Map<string, { userId: string; until: number }>();
  const remember = (header: string) => createHmac('sha256', cacheKey).update(header).digest('base64url');

  async function checkBasic(req: Request, header: string, encoded: string): Promise<Outcome> {
    const key = remember(header);
    const known = verified.get(key);
    if (known && known.until > Date.now()) return { ok: true, userId: known.userId };
    verified.delete(key);

    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const email = (colon < 0 ? decoded : decoded.slice(0, colon)).trim().toLowerCase();
    const password = colon < 0 ? '' : decoded.slice(colon + 1);
    if (!email || !password) return { ok: false, status: 401, reason: 'incomplete credentials', challenge: basicChallenge };

    let attempt;
    try {
      attempt = await opts.loginLimiter.begin({ email, clientAddress: addressKey(req.ip) });
    } catch (err) {
      if (err instanceof TooManyAttemptsError) {
        const { retryAfterSeconds } = err;
        return { ok: false, status: 429, reason: 'too many failed sign-ins', challenge: basicChallenge, retryAfterSeconds };
      }
      throw err;
    }
    const user = await User.findOne({ email }).select('+passwordHash').lean();
    // Unknown email and wrong password: same answer, same work (a hash is verified either way).
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !ok) return { ok: false, status: 401, reason: 'wrong email or password', challenge: basicChallenge };
    await attempt.succeeded();
    if (verified.size >= VERIFIED_MAX) verified.clear();
    verified.set(key, { userId: user._id.toString(), until: Date.now() + VERIFIED_TTL_MS });
    return { ok: true, userId: user._id.toString() };
  }

  async function authenticate(req: Request): Promise<Outcome> {
    const header = req.headers.authorization;
    if (!header) return { ok: false, status: 401, reason: 'no credentials', challenge: basicChallenge };
    const [scheme, value, ...rest] = header.trim().split(/\s+/);
    if (!value || rest.length > 0) return { ok: false, status: 401, reason: 'malformed authorization', challenge: basicChallenge };
    switch (scheme!.toLowerCase()) {
      case 'basic':
        return checkBasic(req, header, value);
      case 'bearer':
        try {
          return { ok: true, userId: (await verifyToken(value, c)).id.toString() };
        } catch (err) {
          const message = err instanceof GraphQLError ? err.message : 'Invalid token';
          return { ok: false, status: 401, reason: message, challenge: `Bearer error="invalid_token", error_description="${message}"` };
        }
      default:
        return { ok: false, status: 401, reason: 'unsupported authorization scheme', challenge: basicChallenge };
    }
  }

  const refuse = (res: Response, status: number, message: string, headers: Record<string, string> = {}) => {
    res.status(status).set({ 'Cache-Control': 'no-store', ...headers }).json({ error: message });
  };

  return async (req, res, next) => {
    try {
      const outcome = await authenticate(req);
      if (!outcome.ok) {
        // A browser's first request carries no credentials by design (the 401 is what makes it ask): routine.
        const level = outcome.reason === 'no credentials' ? 'debug' : 'info';
        log[level]({ path: req.originalUrl, status: outcome.status, reason: outcome.reason }, 'refused an admin page request');
        const headers: Record<string, string> = { 'WWW-Authenticate': outcome.challenge };
        if (outcome.retryAfterSeconds) headers['Retry-After'] = String(outcome.retryAfterSeconds);
        const message =
          outcome.status === 429
            ? `Too many failed sign-ins; try again in ${outcome.retryAfterSeconds} s`
            : 'Sign in with an admin account (email and password)';
        return refuse(res, outcome.status, message, headers);
      }
      // The account as it is now: the token's role claim (or a remembered sign-in) may be out of date.
      const user = Types.ObjectId.isValid(outcome.userId) ? await User.findById(outcome.userId).select({ role: 1 }).lean() : null;
      if (!user) {
        log.info({ path: req.originalUrl, userId: outcome.userId }, 'refused an admin page request: no such user');
        return refuse(res, 401, 'Sign in with an admin account (email and password)', { 'WWW-Authenticate': basicChallenge });
      }
      if (user.role !== Role.ADMIN) {
        log.info({ path: req.originalUrl, userId: outcome.userId }, 'refused an admin page request: not an admin');
        return refuse(res, 403, 'Only admins may open this page');
      }
      (res.locals as AdminLocals).adminId = outcome.userId;
      next();
    } catch (err) {
      next(err);
    }
  };
}

/**
 * Browsers attach Basic credentials to cross-site requests too, so a page elsewhere could post a form to the
 * dashboard's API as the signed-in admin. Writes must therefore be JSON (which a cross-site page cannot send
 * without a CORS preflight, which is never granted) and, where the browser says where they come from, same-origin.
 */
export function sameOriginWrites(): RequestHandler {
  return (req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
    const site = req.headers['sec-fetch-site'];
    const origin = req.headers.origin;
    const crossSite = (site !== undefined && site !== 'same-origin' && site !== 'none') || (origin !== undefined && !sameHost(origin, req));
    if (crossSite || !req.is('application/json')) {
      res.status(403).set('Cache-Control', 'no-store').json({ error: 'Dashboard changes must be same-origin JSON requests' });
      return;
    }
    next();
  };
}

function sameHost(origin: string, req: Request): boolean {
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
