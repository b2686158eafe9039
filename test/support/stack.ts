// The real stack for tests: a MongoDB-compatible server (one per run, a database per test file), the API
// server on 127.0.0.1, and helpers that speak GraphQL over HTTP like any client.
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { parseConfig, type Config } from '../../src/config.js';
import { connectDatabase, disconnectDatabase, type Database } from '../../src/db/connect.js';
import { startApiServer, type ApiServer } from '../../src/app.js';
import { startLiveChannel, type LiveChannel } from '../../src/live/channel.js';
import { createServices, type Services } from '../../src/services.js';
import { User } from '../../src/models/user.js';
import { Reservation } from '../../src/models/reservation.js';
import { Role } from '../../src/models/status.js';
import { createUser } from '../../src/lib/users.js';

export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef';

/** A fresh database URI on the run's shared server. */
export function freshDatabaseUri(prefix = 't'): string {
  const base = process.env.TEST_MONGODB_URI;
  if (!base) throw new Error('TEST_MONGODB_URI is not set: run the tests with `npm test` (Jest global setup)');
  const u = new URL(base);
  u.pathname = `/${prefix.replace(/[^a-z0-9]/gi, '').slice(0, 20)}_${randomBytes(4).toString('hex')}`;
  return u.toString();
}

/** The environment every process of a test stack shares. */
export function baseEnv(mongoUri: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    MONGODB_URI: mongoUri,
    JWT_SECRET: TEST_JWT_SECRET,
    HOST: '127.0.0.1',
    PORT: '0',
    WORKER_HEALTH_PORT: '0',
    ADMIN_EMAIL: 'owner@restaurant.test',
    MAIL_FROM: 'Reservations <noreply@restaurant.test>',
    JOB_POLL_INTERVAL: '200 ms',
    ...extra,
  };
}

export interface GqlResult<T = any> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: { code?: string; [k: string]: unknown }; path?: string[] }[];
  headers: Headers;
}

export async function gql<T = any>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  token?: string,
): Promise<GqlResult<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: GqlResult['errors'] };
  return { status: res.status, data: body.data, errors: body.errors, headers: res.headers };
}

/** The first error's code; undefined when the result has no error (assert on it: `expect(codeOf(r)).toBe(…)`). */
export function codeOf(r: GqlResult): string | undefined {
  return r.errors?.[0]?.extensions?.code;
}

export interface Session {
  token: string;
  id: string;
  email: string;
}

/** An API server in this process, wired as `npm start` wires one (src/server.ts), with its live channel. */
export interface InProcessApi extends ApiServer {
  services: Services;
  live: LiveChannel;
}

/** A test's logger: the configured level (tests run with LOG_LEVEL=silent unless they say otherwise). */
export const testLogger = (c: Config) => pino({ level: c.LOG_LEVEL });

/**
 * Starts an API server in this process on the open connection `db`, with its own services and live channel.
 * Stopping it stops the channel too (the database connection stays open).
 */
export async function startInProcessApi(config: Config, db: Database, opts: { port?: number; host?: string } = {}): Promise<InProcessApi> {
  const services = createServices(config, db, testLogger(config));
  const live = startLiveChannel({ publisher: services.publisher, log: services.log });
  await live.started;
  const api = await startApiServer({ services, hub: live.hub, port: opts.port ?? 0, host: opts.host ?? '127.0.0.1' });
  return {
    ...api,
    services,
    live,
    async stop() {
      await api.stop();
      live.stop();
    },
  };
}

export interface TestStack {
  config: Config;
  mongoUri: string;
  db: Database;
  api: InProcessApi;
  /** The API server's services: its status pipeline, Agenda (never started here), publisher. */
  services: Services;
  /** Another API server on this stack's database with `env` on top of the stack's environment. */
  startApi(env: Record<string, string>): Promise<InProcessApi>;
  url: string;
  gql: <T = any>(query: string, variables?: Record<string, unknown>, token?: string) => Promise<GqlResult<T>>;
  signUp(input?: Partial<{ email: string; username: string; password: string; firstName: string; lastName: string }>): Promise<Session>;
  admin(): Promise<Session>;
  createReservation(token: string, input?: Partial<{ startTime: string; partySize: number; notes: string }>): Promise<any>;
  stop(): Promise<void>;
}

let counter = 0;
const unique = () => `${Date.now().toString(36)}${(counter++).toString(36)}${randomBytes(2).toString('hex')}`;

export const inOneHour = () => new Date(Date.now() + 3_600_000).toISOString();

export const RESERVATION_FIELDS = `id reference startTime partySize notes status cancellationReason createdAt updatedAt
  customer { id email username displayName }
  history { id from to at actor reason }`;

/** Starts the API server in this process on a fresh database. */
export async function startStack(opts: { env?: Record<string, string>; prefix?: string } = {}): Promise<TestStack> {
  const mongoUri = freshDatabaseUri(opts.prefix);
  const config = parseConfig(baseEnv(mongoUri, opts.env));
  const db = await connectDatabase(mongoUri);
  await Promise.all([User.init(), Reservation.init()]);
  const api = await startInProcessApi(config, db);
  const call = <T = any>(q: string, v?: Record<string, unknown>, t?: string) => gql<T>(api.url, q, v, t);

  const stack: TestStack = {
    config,
    mongoUri,
    db,
    api,
    services: api.services,
    startApi: (env) => startInProcessApi(parseConfig(baseEnv(mongoUri, { ...opts.env, ...env })), db),
    url: api.url,
    gql: call,
    async signUp(input = {}) {
      const id = unique();
      const vars = {
        email: `user${id}@example.com`,
        username: `user${id}`,
        password: 'correct horse battery',
        ...input,
      };
      const r = await call(
        `mutation($input: SignUpInput!) { signUp(input: $input) { token user { id email } } }`,
        { input: vars },
      );
      if (!r.data) throw new Error(`signUp failed: ${JSON.stringify(r.errors)}`);
      return { token: r.data.signUp.token, id: r.data.signUp.user.id, email: r.data.signUp.user.email };
    },
    async admin() {
      const id = unique();
      const email = `admin${id}@example.com`;
      await createUser({ email, username: `admin${id}`, password: 'admin password 1', role: Role.ADMIN });
      const r = await call(`mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token user { id } } }`, {
        e: email,
        p: 'admin password 1',
      });
      if (!r.data) throw new Error(`admin logIn failed: ${JSON.stringify(r.errors)}`);
      return { token: r.data.logIn.token, id: r.data.logIn.user.id, email };
    },
    async createReservation(token, input = {}) {
      const r = await call(
        `mutation($input: CreateReservationInput!) { createReservation(input: $input) { ${RESERVATION_FIELDS} } }`,
        { input: { startTime: inOneHour(), partySize: 2, ...input } },
        token,
      );
      if (!r.data) throw new Error(`createReservation failed: ${JSON.stringify(r.errors)}`);
      return r.data.createReservation;
    },
    async stop() {
      await api.stop();
      await disconnectDatabase();
    },
  };
  return stack;
}
