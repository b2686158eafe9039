// Test access to the one MongoDB-compatible server of the run (started by global-setup.ts).
import { randomBytes } from 'node:crypto';

export function sharedMongoUri(): string {
  const uri = process.env.TEST_MONGODB_URI;
  if (!uri) {
    throw new Error(
      'TEST_MONGODB_URI is not set: run the tests with `npm test` (Jest global setup starts the database), ' +
        'or set TEST_MONGODB_URI / MONGODB_URI to a running MongoDB',
    );
  }
  return uri;
}

/**
 * A database name no other test or run shares: `<prefix>_<time>_<random>`, in the characters and length
 * (< 64) that both MongoDB and FerretDB accept.
 */
export function uniqueDbName(prefix: string): string {
  const safe = prefix.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40) || 'test';
  return `${safe}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}
