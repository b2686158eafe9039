// NODE_ENV=production, from real processes: the compiled API server (`dist/src/server.js`) with the settings
// production requires (SendGrid pointing at the local stub), beside the same server in test mode on the same
// database as the positive control. In production no stack trace and no internal message reaches a client, over
// HTTP or WebSocket, for the fuzz run's requests and for the error cases below, while the test-mode server shows
// them. A production-required setting missing, or a bad setting value, stops the server and the worker with exit
// code 1 and one line naming it.
import { randomBytes } from 'node:crypto';
import { Types } from 'mongoose';
import { connectDatabase, disconnectDatabase } from '../src/db/connect.js';
import { createUser } from '../src/lib/users.js';
import { Reservation } from '../src/models/reservation.js';
import { Role } from '../src/models/status.js';
import { aimFuzzAt, runFuzz, type Outcome } from './support/fuzz.js';
import { connectLive, STATUS_CHANGED, untilSubscribed, type Change, type LiveConnection } from './support/live.js';
import { startApiProcess, startProcess, stopProcess, type Proc } from './support/processes.js';
import { startSendGridStub, type SendGridStub } from './support/sendgrid-stub.js';
import { baseEnv, freshDatabaseUri, gql, inOneHour, TEST_JWT_SECRET, type GqlResult } from './support/stack.js';

type Api = Proc & { url: string };
type Mode = 'production' | 'test';

const FUZZ_REQUESTS = 1000;
const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20_240_611);

/**
 * What must not reach a client in production: stack traces (Apollo's `stacktrace`, frames, file paths) and the
 * internals behind an error (driver and Mongoose errors, JavaScript errors, GraphQL's own execution failures).
 */
const LEAK =
  /stacktrace|\n\s+at |\\n\s+at |node_modules|dist\/src|file:\/\/|\.[cm]?[jt]s:\d+:\d+|Mongo[A-Za-z]*Error|E11000|CastError|ValidationError|Cannot return null for non-nullable|Enum "\w+" cannot represent value:|Cannot read properties of|is not a function|TypeError|ReferenceError/;

let stub: SendGridStub;
let uri: string;
const api = {} as Record<Mode, Api>;
let customer: { token: string; id: string };
let adminToken: string;
const connections: LiveConnection[] = [];

beforeAll(async () => {
  stub = await startSendGridStub();
  uri = freshDatabaseUri('production');
  await connectDatabase(uri);
  const env = (mode: Mode) =>
    baseEnv(uri, { NODE_ENV: mode, LOG_LEVEL: 'info', SENDGRID_API_KEY: stub.apiKey, SENDGRID_API_BASE_URL: stub.url });
  [api.production, api.test] = await Promise.all([startApiProcess(env('production')), startApiProcess(env('test'))]);

  const id = randomBytes(4).toString('hex');
  const signUp = await gql(api.production.url, 'mutation($i: SignUpInput!) { signUp(input: $i) { token user { id } } }', {
    i: { email: `prod${id}@example.com`, username: `prod${id}`, password: 'correct horse battery' },
  });
  customer = { token: signUp.data.signUp.token, id: signUp.data.signUp.user.id };
  await createUser({ email: `admin${id}@example.com`, username: `admin${id}`, password: 'admin password 1', role: Role.ADMIN });
  const logIn = await gql(api.production.url, 'mutation($e: String!) { logIn(email: $e, password: "admin password 1") { token } }', {
    e: `admin${id}@example.com`,
  });
  adminToken = logIn.data.logIn.token;
  // One real reservation, so listings and cursors have something to walk over.
  const created = await gql(api.production.url, 'mutation($i: CreateReservationInput!) { createReservation(input: $i) { id } }', {
    i: { startTime: inOneHour() },
  }, customer.token);
  expect(created.errors).toBeUndefined();
}, 90_000);

afterEach(async () => {
  await Promise.all(connections.splice(0).map((c) => c.dispose()));
});

afterAll(async () => {
  await Promise.all([stopProcess(api.production), stopProcess(api.test)]);
  await disconnectDatabase();
  await stub.close();
});

const leaked = (outcomes: Outcome[]) => outcomes.filter((o) => LEAK.test(o.body)).map((o) => `${o.request}\n  → ${o.body.slice(0, 300)}`);
const fuzz = (mode: Mode) => {
  aimFuzzAt({ origin: new URL(api[mode].url).origin, customerToken: customer.token, adminToken, customerId: customer.id });
  return runFuzz(FUZZ_SEED, FUZZ_REQUESTS, 8);
};

describe('the fuzz run', () => {
  test(`${FUZZ_REQUESTS} hostile requests to the production server: no 5xx, no internal error, no stack trace, no internal message`, async () => {
    const outcomes = await fuzz('production');
    expect(outcomes).toHaveLength(FUZZ_REQUESTS);
    expect(outcomes.filter((o) => o.problem)).toEqual([]);
    expect(leaked(outcomes)).toEqual([]);
    // Errors did come back, with their codes: there was something to leak.
    expect(outcomes.filter((o) => /"errors":\[/.test(o.body) && /"code":"/.test(o.body)).length).toBeGreaterThan(FUZZ_REQUESTS / 2);
    expect(api.production.child.exitCode).toBeNull();
  }, 120_000);

  test('the positive control: the same requests to the test-mode server get stack traces', async () => {
    const outcomes = await fuzz('test');
    expect(outcomes.filter((o) => o.problem)).toEqual([]);
    expect(outcomes.filter((o) => /"stacktrace":\[/.test(o.body)).length).toBeGreaterThan(FUZZ_REQUESTS / 2);
  }, 120_000);
});

describe('error cases', () => {
  const QUERY_RESERVATION = 'query($id: ID!) { reservation(id: $id) { id reference status } }';
  const both = async (query: string, variables: Record<string, unknown>, token?: string) => {
    const [production, test] = await Promise.all([gql(api.production.url, query, variables, token), gql(api.test.url, query, variables, token)]);
    return { production, test };
  };
  /** The same errors, once the test-mode server's stack traces (which must be there) are taken out. */
  const withoutStacktraces = (r: Pick<GqlResult, 'errors'>) =>
    r.errors!.map(({ extensions, ...rest }) => {
      expect(extensions!.stacktrace).toEqual(expect.arrayContaining([expect.stringMatching(/^\s+at /)]));
      const { stacktrace, ...others } = extensions!;
      void stacktrace;
      return { ...rest, extensions: others };
    });

  test.each([
    ['BAD_USER_INPUT (a start time in the past)', 'mutation($i: CreateReservationInput!) { createReservation(input: $i) { id } }', () => ({ i: { startTime: '2001-01-01T00:00:00.000Z' } }), () => customer.token],
    ['BAD_USER_INPUT (a malformed id)', QUERY_RESERVATION, () => ({ id: 'not-an-id' }), () => adminToken],
    ['NOT_FOUND', 'mutation($id: ID!) { confirmReservation(id: $id) { id } }', () => ({ id: new Types.ObjectId().toHexString() }), () => adminToken],
    ['FORBIDDEN', 'mutation($id: ID!) { confirmReservation(id: $id) { id } }', () => ({ id: new Types.ObjectId().toHexString() }), () => customer.token],
    ['UNAUTHENTICATED', 'mutation($i: CreateReservationInput!) { createReservation(input: $i) { id } }', () => ({ i: { startTime: inOneHour() } }), () => undefined],
    ['GRAPHQL_VALIDATION_FAILED', '{ me { id password } }', () => ({}), () => customer.token],
  ])('%s: the same message and code in both modes; the stack trace only in test mode', async (_name, query, variables, token) => {
    const { production, test } = await both(query, variables(), token());
    expect(production.errors).toHaveLength(1);
    expect(JSON.stringify(production.errors)).not.toMatch(LEAK);
    expect(production.errors).toEqual(withoutStacktraces(test));
  });

  test('an operation name that names no operation: OPERATION_RESOLUTION_FAILURE in both modes, nothing internal', async () => {
    const ask = async (mode: Mode) => {
      const res = await fetch(api[mode].url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${customer.token}` },
        body: JSON.stringify({ query: '{ me { id } }', operationName: '3.14' }),
      });
      return { status: res.status, body: (await res.json()) as Pick<GqlResult, 'errors'> };
    };
    const [production, test] = await Promise.all([ask('production'), ask('test')]);
    const expected = { errors: [{ message: 'Unknown operation named "3.14".', extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } }] };
    expect(production).toEqual({ status: 400, body: expected });
    expect({ status: test.status, body: { errors: withoutStacktraces(test.body) } }).toEqual({ status: 400, body: expected });
  });

  test('INVALID_TRANSITION: the same message and code in both modes; the stack trace only in test mode', async () => {
    const created = await gql(api.production.url, 'mutation($i: CreateReservationInput!) { createReservation(input: $i) { id } }', {
      i: { startTime: inOneHour() },
    }, customer.token);
    const id = created.data.createReservation.id;
    await gql(api.production.url, 'mutation($id: ID!) { cancelReservation(id: $id) { id } }', { id }, customer.token);
    const { production, test } = await both('mutation($id: ID!) { confirmReservation(id: $id) { id } }', { id }, adminToken);
    expect(production.errors).toEqual([
      expect.objectContaining({ extensions: { code: 'INVALID_TRANSITION', status: 'CANCELLED', to: 'CONFIRMED' } }),
    ]);
    expect(production.errors).toEqual(withoutStacktraces(test));
  });

  test('an internal error (a stored reservation that breaks the schema): "Internal server error" in production, the details in test mode', async () => {
    const broken = await insertBrokenReservation();
    const { production, test } = await both(QUERY_RESERVATION, { id: broken }, adminToken);
    expect({ data: production.data, errors: production.errors }).toEqual({ data: { reservation: null }, errors: [internal(QUERY_RESERVATION, ['reservation', 'reference'])] });
    // The positive control: the same request to the test-mode server gets GraphQL's own message and a stack trace.
    expect({ data: test.data, errors: test.errors }).toEqual({ data: { reservation: null }, errors: [detailed(QUERY_RESERVATION, ['reservation', 'reference'])] });
    // The server logs what the client is not told.
    await api.production.waitForLine(/^(?=.*"level":50)(?=.*unexpected error in a GraphQL operation)(?=.*Cannot return null for non-nullable field Reservation\.reference)/, 15_000);
  });

  test("an internal error in a mutation's answer and in a subscription's: masked in production, the details in test mode", async () => {
    const broken = await insertBrokenReservation();
    // Admins on both servers follow the broken reservation; its changes then fail to render for them.
    const following = (['production', 'test'] as const).map((mode) => {
      const c = connectLive(api[mode].url, adminToken);
      connections.push(c);
      const sub = c.subscribe<Change>(STATUS_CHANGED, { id: broken });
      // Subscribed last on the same connection: once it receives changes, the one above is in place too.
      return { sub, everything: c.subscribe<Change>(STATUS_CHANGED) };
    });
    await untilSubscribed(following.map((f) => f.everything), api.production.url, customer.token);

    const CONFIRM = 'mutation($id: ID!) { confirmReservation(id: $id) { id reference } }';
    const CANCEL = 'mutation($id: ID!) { cancelReservation(id: $id) { id reference } }';
    const confirmed = await gql(api.production.url, CONFIRM, { id: broken }, adminToken);
    expect({ data: confirmed.data, errors: confirmed.errors }).toEqual({ data: null, errors: [internal(CONFIRM, ['confirmReservation', 'reference'])] });
    const cancelled = await gql(api.test.url, CANCEL, { id: broken }, adminToken);
    expect({ data: cancelled.data, errors: cancelled.errors }).toEqual({ data: null, errors: [detailed(CANCEL, ['cancelReservation', 'reference'])] });
    // Both changes were made (their answers failed, not they): each subscriber gets both, as errors.
    expect((await Reservation.findById(broken).lean())!.history.map((e) => e.to)).toEqual(['PENDING', 'CONFIRMED', 'CANCELLED']);
    await Promise.all(following.map(({ sub }) => sub.waitFor(() => sub.errors.length === 2, 'both changes', 15_000)));

    const path = ['reservationStatusChanged', 'reservation', 'reference'];
    expect(following[0]!.sub.errors).toEqual([internal(STATUS_CHANGED, path), internal(STATUS_CHANGED, path)]);
    expect(JSON.stringify(following[0]!.sub.errors)).not.toMatch(LEAK);
    // Over WebSocket the test-mode server sends GraphQL's own error as it is: no code, no stack trace.
    const { extensions, ...asIs } = detailed(STATUS_CHANGED, path);
    void extensions;
    expect(following[1]!.sub.errors).toEqual([asIs, asIs]);
  });

  test('an internal error thrown in a resolver (a stored customer that is not an id): masked in production, the details in test mode', async () => {
    const broken = await insertBrokenReservation({ reference: 'BROKEN01', customer: 'nobody' });
    const query = 'query($id: ID!) { reservation(id: $id) { id customer { id } } }';
    const { production, test } = await both(query, { id: broken }, adminToken);
    expect({ data: production.data, errors: production.errors }).toEqual({ data: { reservation: null }, errors: [internal(query, ['reservation'])] });
    expect({ data: test.data, errors: test.errors }).toEqual({
      data: { reservation: null },
      errors: [
        {
          message: "Cannot read properties of undefined (reading 'toString')",
          locations: [locationOf(query, 'reservation')],
          path: ['reservation'],
          extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: expect.arrayContaining([expect.stringMatching(/^TypeError: /)]) },
        },
      ],
    });
  });
});

/** A reservation stored without its reference (as a bug or a hand edit could leave one), or with `fields` spoilt. */
async function insertBrokenReservation(fields: Record<string, unknown> = {}): Promise<string> {
  const _id = new Types.ObjectId();
  const at = new Date();
  await Reservation.collection.insertOne({
    _id,
    customer: new Types.ObjectId(customer.id),
    startTime: new Date(Date.now() + 86_400_000),
    partySize: 2,
    status: 'PENDING',
    history: [{ _id: new Types.ObjectId(), from: null, to: 'PENDING', at, actor: `customer:${customer.id}` }],
    version: 1,
    createdAt: at,
    updatedAt: at,
    ...fields,
  } as never);
  return _id.toHexString();
}

/** Where `field` (the last element of `path`) is in `document`, as GraphQL reports it. */
function locationOf(document: string, field: string) {
  const before = document.slice(0, document.search(new RegExp(`\\b${field}\\b`))).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

/** An internal error as production shows it: a fixed message, the code, where it happened; nothing else. */
const internal = (document: string, path: string[]) => ({
  message: 'Internal server error',
  locations: [locationOf(document, path.at(-1)!)],
  path,
  extensions: { code: 'INTERNAL_SERVER_ERROR' },
});

/** The same error as the test-mode server shows it: GraphQL's own message, and a stack trace. */
const detailed = (document: string, path: string[]) => ({
  message: `Cannot return null for non-nullable field Reservation.${path.at(-1)}.`,
  locations: [locationOf(document, path.at(-1)!)],
  path,
  extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: expect.arrayContaining([expect.stringMatching(/^\s+at /)]) },
});

describe('start-up settings, from real processes', () => {
  /** What production requires, all present: each case takes one away or spoils one. */
  const complete = () => ({
    NODE_ENV: 'production',
    MONGODB_URI: uri,
    JWT_SECRET: TEST_JWT_SECRET,
    SENDGRID_API_KEY: stub.apiKey,
    SENDGRID_API_BASE_URL: stub.url,
    PUBLIC_URL: 'https://book.restaurant.test',
    HOST: '127.0.0.1',
    PORT: '0',
    WORKER_HEALTH_PORT: '0',
  });
  const run = async (entry: 'server.js' | 'worker.js', env: Record<string, string | undefined>) => {
    const p = startProcess(entry, Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)));
    const code = await p.exited;
    return { code, lines: p.lines };
  };

  test.each(['JWT_SECRET', 'SENDGRID_API_KEY', 'MONGODB_URI', 'PUBLIC_URL'])(
    'production without %s: the server and the worker exit with code 1 and one line naming it',
    async (name) => {
      const env = { ...complete(), [name]: undefined };
      const results = await Promise.all([run('server.js', env), run('worker.js', env)]);
      for (const result of results) {
        expect(result).toEqual({ code: 1, lines: [`Invalid configuration: ${name} is required in production`] });
      }
    },
  );

  test.each([
    ['PORT', 'not-a-port', 'Invalid configuration: PORT Invalid input: expected number, received NaN (got "not-a-port")'],
    ['COMPLETION_GRACE_MINUTES', '-5', 'Invalid configuration: COMPLETION_GRACE_MINUTES Too small: expected number to be >=0 (got "-5")'],
    ['JOB_POLL_INTERVAL', 'often', 'Invalid configuration: JOB_POLL_INTERVAL must be a length of time such as "500 ms" (got "often")'],
    // A test build's crash point, set by mistake in production, would kill the process at every change.
    ['CRASH_POINT', 'after-claim', 'Invalid configuration: CRASH_POINT is for tests only (NODE_ENV=test) (got "after-claim")'],
    ['DISPLAY_TIMEZONE', 'Mars/Olympus', 'Invalid configuration: DISPLAY_TIMEZONE must be an IANA time zone such as Europe/London (got "Mars/Olympus")'],
    ['MONGODB_URI', 'postgres://db/reservations', 'Invalid configuration: MONGODB_URI must start with mongodb:// or mongodb+srv:// (got "postgres://db/reservations")'],
    ['JWT_SECRET', 'short', 'Invalid configuration: JWT_SECRET must be at least 16 characters'],
    ['NODE_ENV', 'staging', 'Invalid configuration: NODE_ENV Invalid option: expected one of "development"|"production"|"test" (got "staging")'],
  ])('%s=%s: the server and the worker exit with code 1 and one line naming it', async (name, value, line) => {
    const env = { ...complete(), [name]: value };
    const results = await Promise.all([run('server.js', env), run('worker.js', env)]);
    for (const result of results) expect(result).toEqual({ code: 1, lines: [line] });
  });

  test('the positive control: with every setting good, both start in production', async () => {
    const server = await startApiProcess(complete());
    const worker = startProcess('worker.js', { ...complete(), LOG_LEVEL: 'info' });
    try {
      await worker.waitForLine(/worker ready/, 60_000);
      expect((await fetch(server.url.replace('/graphql', '/readyz'))).status).toBe(200);
      // Production logs are JSON, one object per line.
      for (const l of [...server.lines, ...worker.lines]) expect(() => JSON.parse(l)).not.toThrow();
    } finally {
      await Promise.all([stopProcess(server), stopProcess(worker)]);
    }
    expect([await server.exited, await worker.exited]).toEqual([0, 0]);
  }, 90_000);
});
