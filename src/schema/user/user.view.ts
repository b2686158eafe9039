import { displayName } from '../../lib/display-name.js';
import type { UserDocument } from '../../models/user.js';
import type { Role } from '../../models/status.js';
import type { User } from './user.type.js';

/** A user document as the GraphQL User type. */
export function userView(u: UserDocument): User {
  return {
    id: u._id.toString(),
    email: u.email,
    username: u.username,
    firstName: u.firstName ?? null,
    lastName: u.lastName ?? null,
    displayName: displayName(u),
    role: u.role as Role,
    createdAt: u.createdAt,
  };
}
