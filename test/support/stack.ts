// The real stack for tests: a MongoDB-compatible server (one per run, a database per test file), the API
// server in this process on 127.0.0.1, and the GraphQL client (support/graphql.ts) bound to it.
import pino from 'pino';
import { parseConfig, type Config } from '../../src/config.js';
import { connectDatabase, disconnectDatabase, type Database } from '../../src/db/connect.js';
import { startApiServer, type ApiServer } from '../../src/app.js';
import { startLiveChannel, type LiveChannel } from '../../src/live/channel.js';
import { createServices, type Services } from '../../src/services.js';
import { User } from '../../src/models/user.js';
import { Reservation } from '../../src/models/reservation.js';
import { createAdmin, gql, gqlData, signUp, type GqlResult, type Session, type SignUpInput } from './graphql.js';
import { databaseUri, sharedMongoUri } from './mongo.js';
import { stackEnv } from './processes.js';

// What tests of the stack talk to it with, from the one client all harness users share.
export { codeOf, gql, type GqlResult, type Session } from './graphql.js';
export { TEST_JWT_SECRET } from './processes.js';

/** A fresh database URI on the run's shared server. */
export function freshDatabaseUri(prefix = 't'): string {
  return databaseUri(sharedMongoUri(), prefix);
}

/** The environment every process of a test stack shares. */
export function baseEnv(mongoUri: string, extra: Record<string, string> = {}): Record<string, string> {
  return stackEnv(mongoUri, { NODE_ENV: 'test', LOG_LEVEL: 'silent', JOB_POLL_INTERVAL: '200 ms', ...extra });
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
  // Agenda sets up its collection in the background from its constructor, and leaves a failure there unhandled:
  // a test that stops right after starting a server would close the connection under it.
  await services.agenda.ready;
  const live = startLiveChannel({ publisher: services.publisher, log: services.log, tail: db.capabilities.tailableCursors });
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
  signUp(input?: Partial<SignUpInput>): Promise<Session>;
  admin(): Promise<Session>;
  createReservation(token: string, input?: Partial<{ startTime: string; partySize: number; notes: string }>): Promise<any>;
  stop(): Promise<void>;
}

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
    signUp: (input) => signUp(api.url, input),
    admin: () => createAdmin(api.url),
    async createReservation(token, input = {}) {
      const data = await gqlData(
        api.url,
        `mutation($input: CreateReservationInput!) { createReservation(input: $input) { ${RESERVATION_FIELDS} } }`,
        { input: { startTime: inOneHour(), partySize: 2, ...input } },
        token,
      );
      return data.createReservation;
    },
    async stop() {
      await api.stop();
      await disconnectDatabase();
    },
  };
  return stack;
}
