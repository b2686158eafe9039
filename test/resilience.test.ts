// A database outage, survived: while MongoDB is down requests fail fast with SERVICE_UNAVAILABLE and readiness
// says so; when it returns, the API server, the worker and the live channel carry on by themselves, and every
// email and completion that was due is delivered exactly once.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connectDatabase, disconnectDatabase } from '../src/db/connect.js';
import { startEmbedded, type EmbeddedMongo } from './support/embedded.js';
import { Reservation } from '../src/models/reservation.js';
import {
  CANCEL,
  CONFIRM,
  type Change,
  changeStatus,
  connectLive,
  createReservation,
  hasEvent,
  type LiveConnection,
  STATUS_CHANGED,
  untilSubscribed,
} from './support/live.js';
import { createAdmin, signUp, type Session } from './support/graphql.js';
import { eventually, pollUntil } from './support/poll.js';
import { freePort, startApiProcess, startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { startSendGridStub, type SendGridStub } from './support/sendgrid-stub.js';
import { baseEnv, codeOf, gql } from './support/stack.js';

let dataDir: string;
let port: number;
let db: EmbeddedMongo | undefined;
let api: (Proc & { url: string }) | undefined;
let worker: Proc | undefined;
let stub: SendGridStub;
let conn: LiveConnection | undefined;
let workerHealth: string;
let admin: Session;
let alice: Session;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'resilience-'));
  port = await freePort();
  db = await startEmbedded({ dataDir, port });
  stub = await startSendGridStub();
  const uri = `${db.uri}resilience`;
  const healthPort = await freePort();
  workerHealth = `http://127.0.0.1:${healthPort}`;
  const env = baseEnv(uri, {
    SENDGRID_API_KEY: stub.apiKey,
    SENDGRID_API_BASE_URL: stub.url,
    // Confirmed reservations complete 6 s after their start: the completion falls due during the outage.
    COMPLETION_GRACE_MINUTES: '0.1',
    EMAIL_RETRY_DELAY: '1 second',
    WORKER_HEALTH_PORT: String(healthPort),
  });
  await connectDatabase(uri);
  [api, worker] = await Promise.all([startApiProcess(env), startWorkerProcess(env)]);
  [admin, alice] = await Promise.all([createAdmin(api.url), signUp(api.url)]);
}, 90_000);

afterAll(async () => {
  await conn?.dispose();
  await Promise.all([stopProcess(api), stopProcess(worker)]);
  await disconnectDatabase();
  await db?.stop();
  await stub.close();
  await rm(dataDir, { recursive: true, force: true });
});

test('a MongoDB restart loses no email, no completion and no live event, and nothing crashes', async () => {
  conn = connectLive(api!.url, admin.token);
  const sub = conn.subscribe<Change>(STATUS_CHANGED);
  // Subscribing is unacknowledged: prime it, and set the primers' admin emails aside before counting.
  const primers = await untilSubscribed([sub], api!.url, alice.token);
  await stub.waitFor(primers, 20_000);
  stub.reset();
  const later = await createReservation(api!.url, alice.token);
  await sub.waitFor(hasEvent(later.eventId), 'the first creation');
  // Starting in 3 s, set directly: asked of the API, a start that close could be past before a busy machine reads it.
  const soon = await createReservation(api!.url, alice.token);
  const soonStart = Date.now() + 3000;
  await Reservation.updateOne({ _id: soon.reservationId }, { $set: { startTime: new Date(soonStart) } });
  const soonConfirmed = await changeStatus(api!.url, CONFIRM, { id: soon.reservationId }, admin.token);
  await sub.waitFor(hasEvent(soonConfirmed.eventId), 'the confirmation before the outage', 20_000);

  await db!.stop();

  // Down: a clear, fast refusal and honest readiness, from both processes.
  const down = await gql(api!.url, `{ reservations { totalCount } }`, undefined, admin.token);
  expect(codeOf(down)).toBe('SERVICE_UNAVAILABLE');
  expect((await fetch(api!.url.replace('/graphql', '/readyz'))).status).toBe(503);
  expect((await fetch(`${workerHealth}/readyz`)).status).toBe(503);
  // Let the completion deadline (start + 6 s) pass while the database is away.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, soonStart + 6000 + 1000 - Date.now())));

  db = await startEmbedded({ dataDir, port });

  // Up again: a new change goes through, and its live event arrives on the subscription opened before.
  const cancelled = await eventually(() => changeStatus(api!.url, CANCEL, { id: later.reservationId }, alice.token), 20_000);
  await sub.waitFor(hasEvent(cancelled.eventId), 'the cancellation made after the restart', 20_000);

  // The completion that fell due during the outage happens, once, and is pushed live.
  const completed = await pollUntil(
    () => Reservation.findById(soon.reservationId).lean(),
    (r) => r?.status === 'COMPLETED',
    'the overdue reservation to complete',
    30_000,
  );
  expect(completed!.history.filter((e) => e.to === 'COMPLETED')).toHaveLength(1);
  await sub.waitFor(hasEvent(completed!.history.at(-1)!._id.toString()), 'the completion event', 20_000);
  // Every change of both reservations reached the subscriber opened before the outage, each once, in order.
  const eventsOf = (id: string) => sub.results.filter((r) => r.reservationStatusChanged.reservation.id === id).map((r) => r.reservationStatusChanged.event.id);
  expect(eventsOf(later.reservationId)).toEqual([later.eventId, cancelled.eventId]);
  expect(eventsOf(soon.reservationId)).toEqual([soon.eventId, soonConfirmed.eventId, completed!.history.at(-1)!._id.toString()]);
  expect(sub.errors).toEqual([]);

  // Every email due: two admin notifications, one confirmation, one cancellation — each exactly once.
  await stub.waitFor(4, 20_000);
  await new Promise((resolve) => setTimeout(resolve, 1500)); // room for a duplicate to show up, if any would
  const subjects = stub.messages.map((m) => (m.subject.startsWith('🔔 New Reservation #') ? 'new' : m.subject)).sort();
  expect(subjects).toEqual(['Your Reservation has been Cancelled', 'Your Reservation is Confirmed!', 'new', 'new']);
  expect(new Set(stub.messages.map((m) => m.customArgs?.idempotency_key)).size).toBe(4);

  expect((await fetch(`${workerHealth}/readyz`)).status).toBe(200);
  expect((await fetch(api!.url.replace('/graphql', '/readyz'))).status).toBe(200);
  expect(api!.child.exitCode).toBeNull();
  expect(worker!.child.exitCode).toBeNull();
}, 120_000);
