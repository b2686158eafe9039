import type { Agenda } from 'agenda';
import DataLoader from 'dataloader';
import type { Config } from '../config.js';
import type { LiveChange } from '../live/channel.js';
import { User, type UserDocument } from '../models/user.js';
import type { LoginLimiter } from '../security/login-limits.js';
import type { StatusService } from '../status/service.js';
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
  };
}

export function createContext(user: AuthUser | undefined, services: ApiServices, clientAddress?: string): Context {
  return { user, loaders: createLoaders(), services, ...(clientAddress ? { clientAddress } : {}) };
}
