// `npm run create-admin -- --email E --password P [--username U]`: makes (or promotes) an admin account.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { connectDatabase, disconnectDatabase } from '../db/connect.js';
import { resolveDatabase } from '../db/resolve.js';
import { User } from '../models/user.js';
import { Role } from '../models/status.js';
import { hashPassword } from '../lib/password.js';
import { createUser, DuplicateUserError } from '../lib/users.js';

const usage = 'usage: npm run create-admin -- --email <email> --password <password> [--username <name>]';

async function main(): Promise<number> {
  let values: { email?: string; password?: string; username?: string };
  try {
    ({ values } = parseArgs({
      options: { email: { type: 'string' }, password: { type: 'string' }, username: { type: 'string' } },
      strict: true,
    }));
  } catch (err) {
    // `[--username U]` pasted from a usage line, brackets and all, lands here.
    const brackets = process.argv.some((a) => a.startsWith('[') || a.endsWith(']'));
    const hint = brackets ? '\n(square brackets in the usage mark an optional part: type --username boss, without them)' : '';
    return fail(`${(err as Error).message.split('\n')[0]}${hint}\n${usage}`);
  }
  const email = values.email?.trim().toLowerCase();
  const password = values.password;
  if (!email || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) return fail(`a valid --email is required\n${usage}`);
  if (!password || password.length < 8) return fail(`--password of at least 8 characters is required\n${usage}`);
  const username = values.username?.trim() || email.split('@')[0]!.replace(/[^A-Za-z0-9_.-]/g, '') || 'admin';

  const c = loadConfig();
  const db = await resolveDatabase(c, process.env, (m) => process.stderr.write(`${m}\n`));
  try {
    await connectDatabase(db.uri);
    await User.init();
    const existing = await User.findOne({ email });
    if (existing) {
      existing.role = Role.ADMIN;
      existing.passwordHash = await hashPassword(password);
      await existing.save();
      process.stdout.write(`Promoted existing user ${email} to admin (password updated).\n`);
    } else {
      await createUser({ email, username, password, role: Role.ADMIN });
      process.stdout.write(`Created admin ${email} (username ${username}).\n`);
    }
    return 0;
  } catch (err) {
    if (err instanceof DuplicateUserError) return fail(`${err.message}; choose another --username`);
    throw err;
  } finally {
    await disconnectDatabase();
    await db.embedded?.stop();
  }
}

function fail(message: string): number {
  process.stderr.write(`create-admin: ${message}\n`);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`create-admin: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
