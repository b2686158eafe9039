// The sweep at volume: a 10,000-reservation backlog completed by one run of the real job in a real worker.
//
// It needs a server whose writes by `_id` do not read the whole collection. The run's own server is used when it
// is MongoDB, or FerretDB on PostgreSQL (EMBEDDED_MONGO=ferretdb-postgresql). On FerretDB's SQLite backend, the
// default where mongod cannot be downloaded, every document an update writes costs a scan of the collection (see
// src/db/embedded/ferretdb-postgresql.ts): 10,000 completions would take hours. There this file starts FerretDB on a
// private PostgreSQL cluster for itself, the next option DESIGN.md names, so the test runs at full size wherever it runs.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { startEmbedded, type EmbeddedMongo } from './support/embedded.js';
import { AGENDA_COLLECTION } from '../src/jobs/agenda.js';
import { AUTO_COMPLETE_ACTOR } from '../src/status/completion.js';
import { JOB } from '../src/jobs/names.js';
import { Reservation } from '../src/models/reservation.js';
import { ReservationStatus } from '../src/models/status.js';
import { LiveEvent, lastSequenceNumber } from '../src/live/live-event.model.js';
import { sharedMongoUri } from './support/mongo.js';
import { insertConfirmed } from './support/fixtures.js';
import { killLeftoverWorkers, startWorkerProcess, stopProcess } from './support/processes.js';
import { baseEnv, startStack, type TestStack } from './support/stack.js';
import { recurringJob } from './support/worker.js';

const TOTAL = 10_000;
const GRACE = 35;

let own: EmbeddedMongo | undefined;
let sharedUri: string | undefined;
let stack: TestStack;
let outbox: string;

/** Whether the run's server writes by `_id` without scanning: MongoDB, or FerretDB on PostgreSQL. */
async function sharedServerScales(uri: string): Promise<boolean> {
  if (process.env.TEST_MONGODB_KIND === 'ferretdb-postgresql') return true;
  const client = await mongoose.createConnection(uri).asPromise();
  try {
    const info = await client.db!.admin().command({ buildInfo: 1 });
    return typeof info.ferretdbVersion !== 'string';
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  sharedUri = sharedMongoUri();
  if (!(await sharedServerScales(sharedUri))) {
    own = await startEmbedded({
      dataDir: os.tmpdir(),
      ephemeral: true,
      env: { ...process.env, EMBEDDED_MONGO: 'ferretdb-postgresql' },
    });
    process.env.TEST_MONGODB_URI = own.uri; // for this file's databases only: restored in afterAll
  }
  outbox = await mkdtemp(path.join(os.tmpdir(), 'sweep-volume-outbox-'));
  stack = await startStack({ prefix: 'sweepvolume', env: { MAIL_OUTBOX_DIR: outbox } });
}, 120_000);

afterAll(async () => {
  await killLeftoverWorkers();
  await stack?.stop();
  if (own) {
    process.env.TEST_MONGODB_URI = sharedUri;
    await own.stop();
  }
  await rm(outbox, { recursive: true, force: true });
});

test(`one sweep completes a ${TOTAL.toLocaleString('en')}-reservation backlog, one event each, and stores its result`, async () => {
  const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);
  const ids = await insertConfirmed(TOTAL, (i) => minutesAgo(GRACE + 1 + (i % 1000)));
  const notDue = await insertConfirmed(10, () => minutesAgo(GRACE - 1));
  const worker = await startWorkerProcess(
    baseEnv(stack.mongoUri, { MAIL_OUTBOX_DIR: outbox, COMPLETION_SWEEP_INTERVAL: '1 hour', COMPLETION_BATCH_SIZE: '200' }),
  );
  try {
    await worker.waitForLine(/"msg":"Processed \d+ overdue reservations"/, 540_000);

    // Every one completed, with exactly one completion event after its two earlier ones.
    const { COMPLETED, CONFIRMED } = ReservationStatus;
    expect(await Reservation.countDocuments({ status: COMPLETED })).toBe(TOTAL);
    expect(
      await Reservation.countDocuments({ status: COMPLETED, 'history.2.to': COMPLETED, 'history.2.actor': AUTO_COMPLETE_ACTOR, 'history.3': { $exists: false } }),
    ).toBe(TOTAL);
    expect(await Reservation.countDocuments({ _id: { $in: notDue }, status: CONFIRMED, 'history.2': { $exists: false } })).toBe(10);

    // The seed's log line per reservation and its result, stored on the job.
    expect(worker.lines.filter((l) => l.includes('"msg":"Auto-completed overdue reservation '))).toHaveLength(TOTAL);
    expect(worker.lines.some((l) => l.includes(`"msg":"Processed ${TOTAL} overdue reservations"`))).toBe(true);
    expect((await recurringJob(JOB.checkOverdueReservations))?.data).toMatchObject({ result: `Processed ${TOTAL} overdue reservations` });

    // One live event each: events are numbered without gaps, and nothing else changed a status in this database.
    // Only the newest are kept (older ones are pruned as they go by); those are completions of distinct reservations.
    expect(await lastSequenceNumber()).toBe(TOTAL);
    const newest = await LiveEvent.find({}, { reservationId: 1, event: 1 }).lean();
    const backlog = new Set(ids.map(String));
    expect(newest.length).toBeGreaterThan(0);
    expect(newest.every((e) => e.event?.to === COMPLETED && backlog.has(e.reservationId.toString()))).toBe(true);
    expect(new Set(newest.map((e) => e.reservationId.toString())).size).toBe(newest.length);

    // No email: none was ever scheduled.
    const emails = await mongoose.connection
      .collection(AGENDA_COLLECTION)
      .countDocuments({ name: { $in: [JOB.newReservationAdminNotification, JOB.reservationStatusEmail] } });
    expect(emails).toBe(0);
  } finally {
    await stopProcess(worker);
  }
}, 600_000);
