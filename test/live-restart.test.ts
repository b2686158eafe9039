// Live updates survive a database restart: an API server on its own embedded database, which is stopped and
// started again on the same port and data folder while a subscriber stays connected.
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseConfig, setConfig } from '../src/config.js';
import { connectDatabase, disconnectDatabase } from '../src/db/connect.js';
import { startEmbeddedMongo, type EmbeddedMongo } from '../src/db/embedded.js';
import {
  CONFIRM,
  type Change,
  changeStatus,
  connectLive,
  createAdmin,
  createReservation,
  hasEvent,
  type LiveConnection,
  type Session,
  signUp,
  STATUS_CHANGED,
} from './support/live.js';
import { startApiProcess, stopProcess, type Proc } from './support/processes.js';
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
  db = await startEmbeddedMongo({ dataDir, port });
  const uri = `${db.uri}live_restart`;
  setConfig(parseConfig(baseEnv(uri)));
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
  const before = await createReservation(api!.url, alice.token);
  await sub.waitFor(hasEvent(before.eventId), 'the creation event');

  await db!.stop();
  db = await startEmbeddedMongo({ dataDir, port });

  // The API reconnects by itself; the first mutation may still meet the old connection's failure.
  const after = await eventually(() => changeStatus(api!.url, CONFIRM, { id: before.reservationId }, admin.token), 20_000);
  await sub.waitFor(hasEvent(after.eventId), 'the confirmation made after the restart', 5000);

  expect(sub.results.map((r) => r.reservationStatusChanged.event.id)).toEqual([before.eventId, after.eventId]);
  expect(sub.errors).toEqual([]);
  expect(api!.child.exitCode).toBeNull();
}, 60_000);

async function eventually<T>(attempt: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** A port free now, to give the database the same one on both starts. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: p } = server.address() as net.AddressInfo;
      server.close(() => resolve(p));
    });
  });
}
