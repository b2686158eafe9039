// The MongoDB-compatible server of a run (tests: started by global-setup.ts; benchmarks: bench/run.ts) and the
// databases on it, one per test file or benchmark.
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
 * `serverUri` with a database no other test, benchmark or run shares: `<name>_<random>`, in the characters and
 * length (< 64) that both MongoDB and FerretDB accept.
 */
export function databaseUri(serverUri: string, name: string): string {
  const u = new URL(serverUri);
  u.pathname = `/${name.replace(/[^a-z0-9_]/gi, '').slice(0, 40) || 'db'}_${randomBytes(4).toString('hex')}`;
  return u.toString();
}
