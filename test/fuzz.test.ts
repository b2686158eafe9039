// 1,000 generated malformed or hostile requests against a real API server process: broken JSON, huge strings,
// deep nesting, wrong types, query operators where strings belong, unknown fields, invalid ids, oversized
// bodies, odd content types and methods, forged or mangled Authorization headers, and a few requests that are
// not even HTTP. None may get a 5xx or an internal error, crash the process, leave an unhandled rejection or an
// error in its log, or write anything (log-in and sign-up attempts aside: counting them is how both are limited).
//
// The generator (support/fuzz.ts, shared with production.test.ts) is seeded, so a failure names a request that can
// be replayed: FUZZ_SEED=<n> reruns another mix.
import { effectsHandedOver } from './support/worker.js';
import { createHash, randomBytes } from 'node:crypto';
import mongoose from 'mongoose';
import { connectDatabase, disconnectDatabase } from '../src/db/connect.js';
import { createUser } from '../src/lib/users.js';
import { Role } from '../src/models/status.js';
import { aimFuzzAt, runFuzz } from './support/fuzz.js';
import { startApiProcess, stopProcess, type Proc } from './support/processes.js';
import { baseEnv, freshDatabaseUri, gql, inOneHour } from './support/stack.js';

const REQUESTS = 1000;
const CONCURRENCY = 8;
const SEED = Number(process.env.FUZZ_SEED ?? 20_240_611);
/** Collections the run may write to: log-ins and sign-ups are counted there, which is the point of them. */
const MAY_GROW = new Set(['loginAttempts', 'signUpAttempts']);

let api: Proc & { url: string };
let origin: string;
let customerToken: string;
let customerId: string;

beforeAll(async () => {
  const uri = freshDatabaseUri('fuzz');
  await connectDatabase(uri);
  api = await startApiProcess(baseEnv(uri, { LOG_LEVEL: 'info' }));
  origin = new URL(api.url).origin;

  const id = randomBytes(4).toString('hex');
  const signUp = await gql(api.url, 'mutation($i: SignUpInput!) { signUp(input: $i) { token user { id } } }', {
    i: { email: `fuzz${id}@example.com`, username: `fuzz${id}`, password: 'correct horse battery' },
  });
  customerToken = signUp.data.signUp.token;
  customerId = signUp.data.signUp.user.id;
  await createUser({
    email: `admin${id}@example.com`,
    username: `admin${id}`,
    password: 'admin password 1',
    role: Role.ADMIN,
  });
  const logIn = await gql(
    api.url,
    'mutation($e: String!) { logIn(email: $e, password: "admin password 1") { token } }',
    {
      e: `admin${id}@example.com`,
    },
  );
  aimFuzzAt({ origin, customerToken, customerId, adminToken: logIn.data.logIn.token });
  // One real reservation, so listings and cursors have something to walk over (the run never names its id).
  const created = await gql(
    api.url,
    'mutation($i: CreateReservationInput!) { createReservation(input: $i) { id } }',
    { i: { startTime: inOneHour() } },
    customerToken,
  );
  expect(created.errors).toBeUndefined();
  await effectsHandedOver(); // its claim is marked dispatched just after the answer
}, 90_000);

afterAll(async () => {
  await stopProcess(api);
  await disconnectDatabase();
});

/** Every document of every collection (those that may grow aside), as a hash of its canonical EJSON, by _id. */
async function collectionHashes(): Promise<Record<string, Record<string, string>>> {
  const db = mongoose.connection.db!;
  const { EJSON } = mongoose.mongo.BSON;
  const names = (await db.listCollections({}, { nameOnly: true }).toArray())
    .map((c) => c.name)
    .filter((n) => !MAY_GROW.has(n));
  const hashes = await Promise.all(
    names.sort().map(async (n) => {
      const docs = await db.collection(n).find().toArray();
      const byId = docs.map((d) => [EJSON.stringify(d._id), createHash('sha256').update(EJSON.stringify(d, { relaxed: false })).digest('hex')]);
      return [n, Object.fromEntries(byId)] as const;
    }),
  );
  return Object.fromEntries(hashes);
}

test(`${REQUESTS} hostile requests: no 5xx, no internal error, no crash, no unhandled rejection, nothing written`, async () => {
  const before = await collectionHashes();
  expect([Object.keys(before.users!).length, Object.keys(before.reservations!).length]).toEqual([2, 1]);

  const outcomes = await runFuzz(SEED, REQUESTS, CONCURRENCY);

  expect(outcomes).toHaveLength(REQUESTS);
  expect(outcomes.filter((o) => o.problem)).toEqual([]);
  // The mix reached every layer: the HTTP parser, the body parser, CSRF, auth, GraphQL validation, the resolvers.
  const statuses = new Set(outcomes.map((o) => o.status));
  for (const status of [200, 400, 401, 404, 405, 413]) expect(statuses).toContain(status);

  // Still serving, and nothing changed.
  expect(api.child.exitCode).toBeNull();
  const after = await gql(api.url, '{ me { id } }', {}, customerToken);
  expect(after.data.me.id).toBe(customerId);
  expect((await fetch(`${origin}/readyz`)).status).toBe(200);
  expect(await collectionHashes()).toEqual(before);

  // A clean exit, and a log without errors (pino level 50 and up) or last-resort handler reports.
  await expect(stopProcess(api)).resolves.toBe(0);
  expect(api.lines.filter((l) => /unhandledRejection|uncaughtException/.test(l))).toEqual([]);
  expect(api.lines.filter((l) => logLevel(l) >= 50)).toEqual([]);
}, 120_000);

function logLevel(line: string): number {
  try {
    return (JSON.parse(line) as { level?: number }).level ?? 0;
  } catch {
    // Not a log line: something printed straight to the console, which a clean run does not do.
    return 60;
  }
}
