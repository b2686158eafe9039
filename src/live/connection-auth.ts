// A WebSocket connection is authenticated once, when it opens, and may then live for hours: this keeps its right to
// exist checked for as long as it does. Each connection is closed
//   - 4401 "Token expired" at its token's expiry (a timer per connection), or "Invalid token" when a re-check
//     finds the token no longer verifies;
//   - 4403 "Forbidden: …" at the next re-check (every AUTH_RECHECK_INTERVAL, one query for every open
//     connection of this server) once its user is deleted, or its token says admin and the user no longer is.
// The codes are graphql-ws's own (4401 Unauthorized, 4403 Forbidden); its client does not retry either, so an app
// signs in again and reconnects. Before the close, the connection's `revoked` signal is aborted: subscriptions
// stop delivering at that moment (reservation.subscription.ts), and the closing socket sends nothing more.
import type { Logger } from 'pino';
import { intervalMs, type Config } from '../config.js';
import { User } from '../models/user.js';
import { Role } from '../models/status.js';
import { userFromAuthorization, type AuthUser } from '../schema/auth.js';

export const CLOSE_TOKEN_INVALID = 4401;
export const CLOSE_FORBIDDEN = 4403;

/** What is needed of a socket: `ws`'s close and state. */
export interface ClosableSocket {
  close(code: number, reason: string): void;
  /** 1: open; 2 and 3: closing and closed. */
  readonly readyState: number;
}

const OPEN = 1;

export interface AuthorizedConnection {
  readonly user: AuthUser;
  /** Aborted when the connection loses its right to exist, just before it is closed. */
  readonly revoked: AbortSignal;
  /** Stops watching (the socket closed by itself). */
  forget(): void;
}

export interface ConnectionAuth {
  /** Starts watching an accepted connection: its token's expiry now, its user at every re-check. */
  watch(socket: ClosableSocket, authorization: string, user: AuthUser): AuthorizedConnection;
  /** Re-checks every open connection now (what the interval runs). */
  recheck(): Promise<void>;
  /** Stops the re-checks and the timers (the server is stopping; its sockets are being closed anyway). */
  stop(): void;
}

/** setTimeout's longest delay; a later expiry is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Watched {
  socket: ClosableSocket;
  /** The connection's `Bearer <token>`, verified again at each re-check. */
  authorization: string;
  user: AuthUser;
  controller: AbortController;
  timer?: NodeJS.Timeout;
}

export function createConnectionAuth(c: Config, log: Logger): ConnectionAuth {
  const open = new Set<Watched>();
  let checking: Promise<void> | undefined;

  const end = (w: Watched, code: number, reason: string) => {
    if (!open.delete(w)) return;
    clearTimeout(w.timer);
    w.controller.abort();
    log.info({ userId: w.user.id.toHexString(), code, reason }, 'closed a WebSocket connection that lost its authorization');
    w.socket.close(code, reason);
  };

  const scheduleExpiry = (w: Watched) => {
    if (w.user.expiresAt === undefined) return;
    const wait = w.user.expiresAt - Date.now();
    if (wait <= 0) return end(w, CLOSE_TOKEN_INVALID, 'Token expired');
    w.timer = setTimeout(() => scheduleExpiry(w), Math.min(wait, MAX_TIMER_MS));
    w.timer.unref();
  };

  async function checkAll(): Promise<void> {
    const watched = [...open];
    if (watched.length === 0) return;
    const ids = [...new Set(watched.map((w) => w.user.id.toHexString()))];
    const roles = new Map(
      (await User.find({ _id: { $in: ids } }).select({ role: 1 }).lean()).map((u) => [u._id.toHexString(), u.role]),
    );
    for (const w of watched) {
      if (!open.has(w)) continue;
      // A socket that closed while it was being accepted is never reported closed to us: forget it here.
      if (w.socket.readyState !== OPEN) {
        open.delete(w);
        clearTimeout(w.timer);
        continue;
      }
      try {
        await userFromAuthorization(w.authorization, c);
      } catch (err) {
        end(w, CLOSE_TOKEN_INVALID, (err as Error).message.startsWith('Token expired') ? 'Token expired' : 'Invalid token');
        continue;
      }
      const role = roles.get(w.user.id.toHexString());
      if (role === undefined) end(w, CLOSE_FORBIDDEN, 'Forbidden: the account no longer exists');
      else if (w.user.role === Role.ADMIN && role !== Role.ADMIN) end(w, CLOSE_FORBIDDEN, 'Forbidden: no longer an admin');
    }
  }

  const recheck = () =>
    (checking ??= checkAll()
      .catch((err: unknown) => {
        // The database is away: connections are left as they are (an outage is no reason to drop everyone),
        // and the next re-check tries again.
        log.warn({ err }, 'could not re-check the users of WebSocket connections');
      })
      .finally(() => {
        checking = undefined;
      }));

  const interval = setInterval(() => void recheck(), intervalMs(c.AUTH_RECHECK_INTERVAL));
  interval.unref();

  return {
    watch(socket, authorization, user) {
      const w: Watched = { socket, authorization, user, controller: new AbortController() };
      open.add(w);
      scheduleExpiry(w);
      return {
        user,
        revoked: w.controller.signal,
        forget() {
          open.delete(w);
          clearTimeout(w.timer);
        },
      };
    },
    recheck,
    stop() {
      clearInterval(interval);
      for (const w of open) clearTimeout(w.timer);
      open.clear();
    },
  };
}
