// Live updates survive a database restart: an API server on its own embedded database, which is stopped and
// started again on the same port and data folder while a subscriber stays connected.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connectDatabase, disconnectDatabase } from '../src/db/connect.js';
import { startEmbedded, type EmbeddedMongo } from './support/embedded.js';
import {
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
import { eventually } from './support/poll.js';
import { freePort, startApiProcess, stopProcess, type Proc } from './support/processes.js';
import { baseEnv } from './support/stack.js';

let dataDir: string;
let port: number;
let db: EmbeddedMongo | undefined;
let api: (Proc & { url: string }) | undefined;
let conn: LiveConnection | undefined;
let admin: Session;
let alice: Session;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'live-restart-'));
  port = await freePort();
  db = await startEmbedded({ dataDir, port });
  const uri = `${db.uri}live_restart`;
  await connectDatabase(uri);
  api = await startApiProcess(baseEnv(uri, { LOG_LEVEL: 'info' }));
  [admin, alice] = await Promise.all([createAdmin(api.url), signUp(api.url)]);
}, 60_000);

afterAll(async () => {
  await conn?.dispose();
  await stopProcess(api);
  await disconnectDatabase();
  await db?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

test('after the database restarts, new changes still reach subscribers', async () => {
  conn = connectLive(api!.url, admin.token);
  const sub = conn.subscribe<Change>(STATUS_CHANGED);
  await untilSubscribed([sub], api!.url, alice.token);
  const primed = sub.results.length;
  const before = await createReservation(api!.url, alice.token);
  await sub.waitFor(hasEvent(before.eventId), 'the creation event');

  await db!.stop();
  db = await startEmbedded({ dataDir, port });

  // The API reconnects by itself; the first mutation may still meet the old connection's failure.
  const after = await eventually(() => changeStatus(api!.url, CONFIRM, { id: before.reservationId }, admin.token), 45_000);
  await sub.waitFor(hasEvent(after.eventId), 'the confirmation made after the restart', 15_000);

  expect(sub.results.slice(primed).map((r) => r.reservationStatusChanged.event.id)).toEqual([before.eventId, after.eventId]);
  expect(sub.errors).toEqual([]);
  expect(api!.child.exitCode).toBeNull();
}, 90_000);
