// Creating users: shared by signUp and `npm run create-admin`.
import { User, type UserDocument } from '../models/user.js';
import { Role } from '../models/status.js';
import { isDuplicateKey } from '../db/writes.js';
import { hashPassword } from './password.js';

export class DuplicateUserError extends Error {
  constructor(readonly field: 'email' | 'username') {
    super(`A user with this ${field} already exists`);
  }
}

export async function createUser(input: {
  email: string;
  username: string;
  password: string;
  firstName?: string | null;
  lastName?: string | null;
  role?: Role;
}): Promise<UserDocument> {
  const email = input.email.trim().toLowerCase();
  const username = input.username.trim();
  // Checked first for a precise message; the unique indexes still decide under a race.
  if (await User.exists({ email })) throw new DuplicateUserError('email');
  if (await User.exists({ usernameKey: username.toLowerCase() })) throw new DuplicateUserError('username');
  try {
    return await User.create({
      email,
      username,
      passwordHash: await hashPassword(input.password),
      firstName: input.firstName?.trim() || undefined,
      lastName: input.lastName?.trim() || undefined,
      role: input.role ?? Role.CUSTOMER,
    });
  } catch (err) {
    if (isDuplicateKey(err)) {
      throw new DuplicateUserError(/email/.test(String((err as Error).message)) ? 'email' : 'username');
    }
    throw err;
  }
}
