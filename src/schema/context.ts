import type { Agenda } from 'agenda';
import DataLoader from 'dataloader';
import type { Config } from '../config.js';
import type { LiveChange } from '../live/channel.js';
import { Reservation } from '../models/reservation.js';
import { ReservationStatus } from '../models/status.js';
import { User, type UserDocument } from '../models/user.js';
import type { LoginLimiter } from '../security/login-limits.js';
import type { SignUpLimiter } from '../security/signup-limits.js';
import type { AfterCommit, StatusService } from '../status/service.js';
import type { AuthUser } from './auth.js';
import type { ReservationStatusChange } from './reservation/reservation.type.js';
import type { User as UserView } from './user/user.type.js';

/**
 * Views built once and shared by every subscriber of a change: a live change's customer is one document primed
 * into every subscriber's loader, so fanning a change out views it once, not once per subscriber. Weak: they
 * live as long as the change does.
 */
export interface SharedViews {
  users: WeakMap<UserDocument, UserView>;
  changes: WeakMap<LiveChange, ReservationStatusChange>;
}

/** What an API server gives every operation: made once per server, passed in (no module globals). */
export interface ApiServices {
  config: Config;
  status: StatusService;
  loginLimiter: LoginLimiter;
  signUpLimiter: SignUpLimiter;
  views: SharedViews;
  /** Where admin-requested jobs go (a webhook redelivery). */
  agenda: Agenda;
}

export interface Context {
  user?: AuthUser;
  loaders: ReturnType<typeof createLoaders>;
  services: ApiServices;
  /** The client's address key (security/login-limits.ts), when the transport knows it. */
  clientAddress?: string;
  /**
   * On a WebSocket connection: aborted the moment the connection loses its right to exist (its token expired, its
   * user was deleted or demoted; live/connection-auth.ts). Subscriptions deliver nothing once it is.
   */
  revoked?: AbortSignal;
  /** HTTP: runs work once the response is sent (a change's hand-over of its effects); absent elsewhere. */
  afterResponse?: AfterCommit;
}

export function createSharedViews(): SharedViews {
  return { users: new WeakMap(), changes: new WeakMap() };
}

/** Per-request batching: a page of reservations loads its customers in one query. */
export function createLoaders() {
  return {
    user: new DataLoader<string, UserDocument | null>(async (ids) => {
      const users = await User.find({ _id: { $in: ids as string[] } });
      const byId = new Map(users.map((u) => [u._id.toString(), u]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    /** A page of reservations asking for their customers' no-shows: one query for all of them. */
    noShowCount: new DataLoader<string, number>(async (ids) => {
      const noShows = await Reservation.find({ customer: { $in: ids as string[] }, status: ReservationStatus.NO_SHOW }, { customer: 1 }).lean();
      const counts = new Map<string, number>();
      for (const r of noShows) counts.set(r.customer.toString(), (counts.get(r.customer.toString()) ?? 0) + 1);
      return ids.map((id) => counts.get(id) ?? 0);
    }),
  };
}

export function createContext(
  user: AuthUser | undefined,
  services: ApiServices,
  extra: { clientAddress?: string; revoked?: AbortSignal; afterResponse?: AfterCommit } = {},
): Context {
  const { clientAddress, revoked, afterResponse } = extra;
  return {
    user,
    loaders: createLoaders(),
    services,
    ...(clientAddress ? { clientAddress } : {}),
    ...(revoked ? { revoked } : {}),
    ...(afterResponse ? { afterResponse } : {}),
  };
}

/**
 * Work queued during a request, run once its response has gone out (or its client has gone away: the work is a
 * committed change's, it runs either way). What the response waits for is then only the commit itself.
 */
export function afterResponseOf(res: { once(event: 'finish' | 'close', listener: () => void): unknown }): AfterCommit {
  const queued: (() => Promise<void>)[] = [];
  let sent = false;
  const run = () => {
    sent = true;
    for (const work of queued.splice(0)) void work();
  };
  res.once('finish', run);
  res.once('close', run);
  return (work) => (sent ? void work() : void queued.push(work));
}
