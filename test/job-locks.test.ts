// How a worker takes jobs on the test server (on FerretDB 1.24, through src/jobs/due-names.ts): each due job is run
// once by one worker however its polls and in-process notifications overlap, whether another process scheduled it
// or the worker itself. Agenda's own documents and job handlers, on the real server.
import { setTimeout as sleep } from 'node:timers/promises';
import { InMemoryNotificationChannel, type Agenda } from 'agenda';
import mongoose from 'mongoose';
import { parseConfig } from '../src/config.js';
import { connectDatabase, disconnectDatabase, type Database } from '../src/db/connect.js';
import { AGENDA_COLLECTION, AgendaScheduler, createAgenda, scheduleOnce } from '../src/jobs/agenda.js';
import type { JobName } from '../src/jobs/names.js';
import { pollUntil } from './support/poll.js';
import { baseEnv, freshDatabaseUri } from './support/stack.js';

let db: Database;
let worker: Agenda | undefined;
const uri = freshDatabaseUri('joblocks');
const config = parseConfig(baseEnv(uri, { JOB_POLL_INTERVAL: '200 ms' }));

beforeAll(async () => {
  db = await connectDatabase(uri);
});
afterEach(async () => {
  await worker?.stop();
  worker = undefined;
});
afterAll(async () => {
  await mongoose.connection.dropDatabase();
  await disconnectDatabase();
});

/** A worker running `name` (10 at once), counting each job's runs by its data's `i`. */
async function startCounting(
  name: string,
  runs: Map<number, number>,
  onRun?: (i: number, agenda: Agenda) => Promise<void>,
  workerConfig = config,
): Promise<Agenda> {
  const agenda = createAgenda(workerConfig, db, `joblocks-${name}`);
  agenda.notifyVia(new InMemoryNotificationChannel());
  agenda.define<{ i: number }>(
    name,
    async (job) => {
      const i = job.attrs.data.i;
      runs.set(i, (runs.get(i) ?? 0) + 1);
      await sleep(20);
      await onRun?.(i, agenda);
    },
    { concurrency: 10, lockLimit: 20, removeOnComplete: true },
  );
  await agenda.start();
  return agenda;
}

const jobsOf = (name: string) => mongoose.connection.collection(AGENDA_COLLECTION).countDocuments({ name });

test('one worker runs each of 200 due jobs once, while the jobs it schedules itself wake it between polls', async () => {
  const name = 'count-runs';
  const runs = new Map<number, number>();
  // Half scheduled by another process's scheduler before the worker starts; each run schedules one more itself
  // (an in-process notification, as a fan-out schedules its deliveries), so polls and notifications overlap.
  await new AgendaScheduler(createAgenda(config, db)).schedule(
    Array.from({ length: 100 }, (_, i) => ({ name: name as JobName, data: { reservationId: '', eventId: '', i } as never, uniqueKey: `${name}:${i}` })),
  );
  worker = await startCounting(name, runs, async (i, agenda) => {
    if (i < 100) await scheduleOnce(agenda, { name, data: { i: i + 100 }, uniqueKey: `${name}:${i + 100}` });
  });
  await pollUntil(async () => runs.size, (n) => n === 200, 'all 200 jobs to run', 60_000);
  await pollUntil(() => jobsOf(name), (n) => n === 0, 'every job removed', 10_000);
  await sleep(500); // a second run would come within a poll or two
  const twice = [...runs.entries()].filter(([, n]) => n !== 1);
  expect({ ran: runs.size, ranOtherThanOnce: twice }).toEqual({ ran: 200, ranOtherThanOnce: [] });
}, 90_000);

test("the jobs a worker's own hand-over inserts start at once, not at its next poll", async () => {
  const name = 'own-schedule';
  const runs = new Map<number, number>();
  // Polls 30 s apart: after the first, within the 10 s waited below only the announcement of a job can start one.
  worker = await startCounting(name, runs, undefined, parseConfig(baseEnv(uri, { JOB_POLL_INTERVAL: '30 seconds' })));
  await sleep(500);
  // As a worker's sweep or completion hands a change over: AgendaScheduler's one insert, on the worker's agenda.
  await new AgendaScheduler(worker).schedule([{ name: name as JobName, data: { reservationId: '', eventId: '', i: 1 } as never, uniqueKey: `${name}:1` }]);
  await pollUntil(async () => runs.get(1) ?? 0, (n) => n === 1, 'the job to run', 10_000);
}, 30_000);
