// Auto-completion: the sweep (in bulk, racing cancels and other sweeps, killed half-way) and the one-off job that
// completes a reservation on its deadline. Reservations in the past are inserted directly: the API refuses them.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mongoose, { Types } from 'mongoose';
import pino from 'pino';
import { AGENDA_COLLECTION, jobIdFor } from '../src/jobs/agenda.js';
import { completeOverdueReservations as completeOverdue } from '../src/jobs/check-overdue-reservations.js';
import { JOB } from '../src/jobs/names.js';
import { Reservation } from '../src/models/reservation.js';
import { ReservationStatus } from '../src/models/status.js';
import { AUTO_COMPLETE_ACTOR, completionCutoff } from '../src/status/completion.js';
import { TransitionError } from '../src/status/errors.js';
import { insertConfirmed } from './support/fixtures.js';
import { pollUntil } from './support/poll.js';
import { killLeftoverWorkers, startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { baseEnv, gql, startStack, type InProcessApi, type TestStack } from './support/stack.js';

const { CONFIRMED, COMPLETED, CANCELLED, PENDING } = ReservationStatus;
const GRACE = 35;
const silent = pino({ level: 'silent' });

let stack: TestStack;
let outbox: string;
let workerEnv: (extra?: Record<string, string>) => Record<string, string>;

beforeAll(async () => {
  outbox = await mkdtemp(path.join(os.tmpdir(), 'completion-outbox-'));
  const common = {
    MAIL_OUTBOX_DIR: outbox,
    COMPLETION_SWEEP_INTERVAL: '1 hour', // the sweep runs once when the first worker registers it
    // Short enough for a killed worker's sweep to be taken over within the test, long enough for one batch on
    // FerretDB (seconds there, as every document an update writes costs it a scan of the collection).
    JOB_LOCK_LIFETIME: '10 seconds',
  };
  stack = await startStack({ prefix: 'complete', env: common });
  // Changes made in this process hand over their effects like the API's (none for a completion but the live event).
  workerEnv = (extra = {}) => baseEnv(stack.mongoUri, { ...common, ...extra });
});

afterAll(async () => {
  await killLeftoverWorkers();
  await stack.stop();
  await rm(outbox, { recursive: true, force: true });
});

/** The sweep, through the stack's status pipeline (as a worker runs it). */
const completeOverdueReservations = (opts: Omit<Parameters<typeof completeOverdue>[0], 'status'>) =>
  completeOverdue({ status: stack.services.status, ...opts });

/** The stored reservations with these ids. */
const load = (ids: Types.ObjectId[]) => Reservation.find({ _id: { $in: ids } }).lean();
const countCompleted = (ids: Types.ObjectId[]) => Reservation.countDocuments({ _id: { $in: ids }, status: COMPLETED });
const minutesAgo = (m: number, from = Date.now()) => new Date(from - m * 60_000);

/** Every reservation consistent: its status is its last event's, and completed ones have one completion event. */
function expectConsistent(docs: Awaited<ReturnType<typeof load>>) {
  for (const doc of docs) {
    expect(doc.status).toBe(doc.history.at(-1)!.to);
    expect(doc.version).toBe(doc.history.length);
    const completions = doc.history.filter((e) => e.actor === AUTO_COMPLETE_ACTOR);
    expect(completions).toHaveLength(doc.status === COMPLETED ? 1 : 0);
  }
}

/** Removes test reservations (and jobs about them) so that later tests in this file see only their own. */
async function forget(ids: Types.ObjectId[]) {
  await Reservation.deleteMany({ _id: { $in: ids } });
  await mongoose.connection.collection(AGENDA_COLLECTION).deleteMany({ 'data.reservationId': { $in: ids.map(String) } });
}

describe('the sweep rule', () => {
  test('exactly the grace is due, a second less is not; PENDING, CANCELLED and COMPLETED are untouched', async () => {
    const now = new Date();
    const cutoff = completionCutoff(now, GRACE);
    const [due, notYet] = await insertConfirmed(2, (i) => new Date(cutoff.getTime() + i * 1000));
    const others = await Reservation.insertMany(
      [PENDING, CANCELLED, COMPLETED].map((status, i) => ({
        reference: `OTHER${i}${Date.now().toString(36).slice(-3).toUpperCase()}`,
        customer: new Types.ObjectId(),
        startTime: minutesAgo(600),
        partySize: 2,
        status,
        history: [{ from: null, to: PENDING, at: minutesAgo(700), actor: 'customer:x' }, ...(status === PENDING ? [] : [{ from: PENDING, to: status, at: minutesAgo(650), actor: 'admin:x' }])],
        version: status === PENDING ? 1 : 2,
      })),
    );
    const before = await load(others.map((o) => o._id));

    const completed = await completeOverdueReservations({ cutoff, batchSize: 50, log: silent });

    expect(completed).toBe(1);
    const [dueDoc, notYetDoc] = [(await load([due!]))[0]!, (await load([notYet!]))[0]!];
    expect(dueDoc.status).toBe(COMPLETED);
    expect(dueDoc.history.at(-1)).toMatchObject({ from: CONFIRMED, to: COMPLETED, actor: AUTO_COMPLETE_ACTOR });
    expect(notYetDoc.status).toBe(CONFIRMED);
    expect(notYetDoc.history).toHaveLength(2);
    expect(await load(others.map((o) => o._id))).toEqual(before);
    await forget([due!, notYet!, ...others.map((o) => o._id)]);
  });

  test('two sweeps at once complete each reservation once, with one event', async () => {
    const ids = await insertConfirmed(200, (i) => minutesAgo(GRACE + 1 + i));
    const cutoff = completionCutoff(new Date(), GRACE);
    // The largest batches at once: on FerretDB, commands of that many updates each would wedge the server.
    const counts = await Promise.all([1, 2].map(() => completeOverdueReservations({ cutoff, batchSize: 100, log: silent })));

    expect(counts[0]! + counts[1]!).toBe(200);
    const docs = await load(ids);
    expect(docs.every((d) => d.status === COMPLETED && d.history.length === 3)).toBe(true);
    expectConsistent(docs);
    await forget(ids);
  });

  test('a cancel racing the sweep: each reservation ends either cancelled or completed, never both', async () => {
    const ids = await insertConfirmed(100, (i) => minutesAgo(GRACE + 1 + i));
    const cutoff = completionCutoff(new Date(), GRACE);
    const cancel = (id: Types.ObjectId) =>
      stack.services.status.transition({ id, to: CANCELLED, actor: 'admin:test', reason: 'race' }).then(
        () => true,
        (err: unknown) => {
          if (err instanceof TransitionError && err.kind === 'INVALID_TRANSITION') return false;
          throw err;
        },
      );
    // Both sides try every reservation from opposite ends, so they meet: the sweep walks the oldest first, four
    // lanes of cancels start from the newest (ids[0]).
    const queue = [...ids];
    const cancelled: boolean[] = [];
    const lane = async () => {
      for (let id = queue.shift(); id; id = queue.shift()) cancelled.push(await cancel(id));
    };
    const [swept] = await Promise.all([completeOverdueReservations({ cutoff, batchSize: 10, log: silent }), lane(), lane(), lane(), lane()]);

    const docs = await load(ids);
    expectConsistent(docs);
    expect(docs.every((d) => d.history.length === 3)).toBe(true);
    expect(docs.filter((d) => d.status === CANCELLED)).toHaveLength(cancelled.filter(Boolean).length);
    expect(docs.filter((d) => d.status === COMPLETED)).toHaveLength(swept);
    expect(swept + cancelled.filter(Boolean).length).toBe(100);
    expect(cancelled).toHaveLength(100);
    // They raced: each side tried all 100, and each won some (had either run first, it would have won all).
    expect(swept).toBeGreaterThan(0);
    expect(cancelled.filter(Boolean).length).toBeGreaterThan(0);
    await forget(ids);
  });
});

describe('the check-overdue-reservations job', () => {
  test('two workers starting at once register one sweep and complete each reservation once', async () => {
    await mongoose.connection.collection(AGENDA_COLLECTION).deleteMany({});
    const ids = await insertConfirmed(300, (i) => minutesAgo(GRACE + 1 + i));
    const workers = await Promise.all([1, 2].map(() => startWorkerProcess(workerEnv({ COMPLETION_BATCH_SIZE: '20' }))));
    try {
      await pollUntil(() => countCompleted(ids), (n) => n === 300, 'all 300 completed', 60_000);
      expect(await mongoose.connection.collection(AGENDA_COLLECTION).countDocuments({ name: JOB.checkOverdueReservations })).toBe(1);
      const docs = await load(ids);
      expect(docs.every((d) => d.history.length === 3)).toBe(true);
      expectConsistent(docs);
    } finally {
      await Promise.all(workers.map((w) => stopProcess(w)));
      await forget(ids);
    }
  }, 90_000);

  test('a worker killed mid-sweep leaves no half-done reservation; the next sweep finishes the rest', async () => {
    // FerretDB 1.24 on SQLite scans the whole collection for every document an update writes, so fewer there.
    // The 10,000-reservation sweep is in sweep-volume.test.ts.
    const total = stack.db.capabilities.server === 'ferretdb' ? 200 : 600;
    const ids = await insertConfirmed(total, (i) => minutesAgo(GRACE + 1 + i));
    const env = workerEnv({ COMPLETION_BATCH_SIZE: '5', COMPLETION_SWEEP_INTERVAL: '2 seconds' });
    const first = await startWorkerProcess(env);
    await pollUntil(() => countCompleted(ids), (n) => n >= 20, 'the sweep to be under way', 60_000);
    first.kill('SIGKILL');
    await first.exited;

    const atKill = await load(ids);
    expectConsistent(atKill);
    expect(atKill.filter((d) => d.status === COMPLETED).length).toBeLessThan(total);

    const second = await startWorkerProcess(env);
    try {
      await pollUntil(() => countCompleted(ids), (n) => n === total, `all ${total} completed`, 60_000);
      const docs = await load(ids);
      expect(docs.every((d) => d.history.length === 3)).toBe(true);
      expectConsistent(docs);
    } finally {
      await stopProcess(second);
      await forget(ids);
    }
  }, 120_000);
});

describe('the complete-reservation job', () => {
  const grace = 0.05; // 3 s
  let worker: Proc;
  // An API server whose confirmations schedule their completion with this grace.
  let api: InProcessApi;

  beforeAll(async () => {
    api = await stack.startApi({ COMPLETION_GRACE_MINUTES: String(grace) });
    worker = await startWorkerProcess(workerEnv({ COMPLETION_GRACE_MINUTES: String(grace) }));
  });
  afterAll(async () => {
    await stopProcess(worker);
    await api.stop();
  });

  const CONFIRM = `mutation($id: ID!) { confirmReservation(id: $id) { history { id } } }`;
  const CANCEL = `mutation($id: ID!) { cancelReservation(id: $id) { status } }`;

  // How soon after its deadline is not checked here (no clocks in tests); that it is never before, is.
  test('completes a confirmed reservation at its deadline, not before; a cancelled one is left alone', async () => {
    const [customer, admin] = await Promise.all([stack.signUp(), stack.admin()]);
    const [kept, cancelled] = await Promise.all([1, 2].map(() => stack.createReservation(customer.token)));
    // The API takes only future start times: both start now, moved there before the confirmations schedule their jobs.
    const startTime = new Date();
    await Reservation.updateMany({ _id: { $in: [kept.id, cancelled.id] } }, { $set: { startTime } });
    const confirmations = await Promise.all([kept, cancelled].map((r) => gql(api.url, CONFIRM, { id: r.id }, admin.token)));
    expect(confirmations.map((c) => c.errors)).toEqual([undefined, undefined]);
    expect((await stack.gql(CANCEL, { id: cancelled.id }, admin.token)).errors).toBeUndefined();

    const deadline = startTime.getTime() + grace * 60_000;
    const done = await pollUntil(() => Reservation.findById(kept.id).lean(), (r) => r?.status === COMPLETED, 'the completion', 30_000);
    const completion = done!.history.at(-1)!;
    expect(completion).toMatchObject({ from: CONFIRMED, to: COMPLETED, actor: AUTO_COMPLETE_ACTOR });
    expect(completion.at.getTime()).toBeGreaterThanOrEqual(deadline);

    // The cancelled one's job has run (and been removed) without touching it.
    const cancelledJob = jobIdFor(`complete:${confirmations[1]!.data.confirmReservation.history[1].id}`);
    await pollUntil(() => mongoose.connection.collection(AGENDA_COLLECTION).countDocuments({ _id: cancelledJob }), (n) => n === 0, 'its job to run', 30_000);
    const left = await Reservation.findById(cancelled.id).lean();
    expect(left!.status).toBe(CANCELLED);
    expect(left!.history.map((e) => e.to)).toEqual([PENDING, CONFIRMED, CANCELLED]);
  });
});
