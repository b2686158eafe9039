import DataLoader from 'dataloader';
import type { Types } from 'mongoose';
import { User, type UserDocument } from '../models/user.js';
import type { AuthUser } from './auth.js';

export interface Context {
  user?: AuthUser;
  loaders: ReturnType<typeof createLoaders>;
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

export function createContext(user: AuthUser | undefined): Context {
  return { user, loaders: createLoaders() };
}

export const idOf = (id: Types.ObjectId | string) => id.toString();
