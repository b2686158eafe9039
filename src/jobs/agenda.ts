// Agenda on the application's own MongoDB connection: how jobs are stored, scheduled exactly once per key, and
// registered as recurring exactly once however many workers start.
//
// Agenda locks a job with a conditional update, which FerretDB 1.24 does not apply atomically: there the same job
// can run twice at once, even within one worker (seen: 100 jobs, two workers, 99 run more than once). So every
// handler is safe to run twice: emails are claimed per attempt (mail/deliver.ts), status changes per version
// (models/status-claim.ts). On MongoDB the lock holds and this is merely never exercised.
import { createHash } from 'node:crypto';
import { Agenda, type Job } from 'agenda';
import { MongoBackend } from '@agendajs/mongo-backend';
import mongoose, { Types } from 'mongoose';
import type { Logger } from 'pino';
import { intervalMs, type Config } from '../config.js';
import { configureEffects, type ScheduledJob } from '../models/effects.js';
import { isDuplicateKey } from '../models/status-claim.js';

export const AGENDA_COLLECTION = 'agendaJobs';

/**
 * An Agenda instance on the default Mongoose connection (which must be open). It polls for due jobs every
 * JOB_POLL_INTERVAL once started; the API server never starts its instance, it only schedules through it.
 * MongoDB offers Agenda no notification channel short of change streams (replica sets only, none on FerretDB),
 * so a short poll is what gets a confirmation's email out within the 2 s the notifications issue asks for.
 */
export function createAgenda(c: Config, name?: string): Agenda {
  const db = mongoose.connection.db;
  if (!db) throw new Error('connect the database before creating Agenda');
  return new Agenda({
    // Mongoose bundles its own copy of the driver (7.8, the backend's is 7.9), hence the cast; both share one
    // bson package, so documents and ObjectIds pass between them unchanged.
    backend: new MongoBackend({ mongo: db as never, collection: AGENDA_COLLECTION }),
    processEvery: intervalMs(c.JOB_POLL_INTERVAL),
    defaultLockLifetime: intervalMs(c.JOB_LOCK_LIFETIME),
    ...(name ? { name } : {}),
  });
}

/**
 * The job id for a uniqueness key. Agenda's own uniqueness (`unique()`, `every()`) is an upsert on a filter
 * without a unique index behind it, so concurrent callers can each insert a job: three concurrent
 * `agenda.every('2 seconds', 'y')` calls left three 'y' jobs on FerretDB 1.24. A job whose _id is derived from
 * its key is inserted at most once by any number of processes: the _id index refuses the rest.
 */
export function jobIdFor(uniqueKey: string): Types.ObjectId {
  return new Types.ObjectId(createHash('sha256').update(uniqueKey).digest().subarray(0, 12));
}

/** Saves `job` unless a job with its key already exists (then leaves that one alone). */
async function insertOnce(job: Job<unknown>, uniqueKey: string): Promise<void> {
  job.unique({ _id: jobIdFor(uniqueKey) }, { insertOnly: true });
  try {
    await job.save();
  } catch (err) {
    // MongoDB reports the loser of two concurrent upserts of one _id as a duplicate key: already scheduled.
    if (!isDuplicateKey(err)) throw err;
  }
}

/** The effects' `schedule` sink: one job per `uniqueKey`, however often (and by however many processes) called. */
export function scheduler(agenda: Agenda, c: Pick<Config, 'FAULT_EXIT_AFTER_COMMIT'>): (job: ScheduledJob) => Promise<void> {
  return async ({ name, data, runAt, uniqueKey }) => {
    // Test hook: die between a committed status change and its effects, as a crash would.
    if (c.FAULT_EXIT_AFTER_COMMIT) process.kill(process.pid, 'SIGKILL');
    await insertOnce(agenda.create(name, data).schedule(runAt ?? new Date()), uniqueKey);
  };
}

/**
 * Registers a recurring job once for all workers (see jobIdFor). A job already registered keeps its schedule
 * and its lock (a sweep may be running); only a changed interval is applied to it.
 */
export async function registerRecurring(agenda: Agenda, name: string, interval: string): Promise<void> {
  const key = `every:${name}`;
  await insertOnce(agenda.create(name, {}).repeatEvery(interval), key);
  await mongoose.connection
    .collection(AGENDA_COLLECTION)
    .updateOne(
      { _id: jobIdFor(key), repeatInterval: { $ne: interval } },
      { $set: { repeatInterval: interval, nextRunAt: new Date() } },
    );
}

/**
 * Stores a run's outcome on its job document (`data.result`), where Agendash shows it: Agenda 6 keeps no
 * results of its own. The whole `data` is set because Agenda may have stored it as null.
 */
export async function recordResult(job: Job<unknown>, result: string): Promise<void> {
  const data = { ...(job.attrs.data as object | null), result, resultAt: new Date() };
  await mongoose.connection
    .collection(AGENDA_COLLECTION)
    .updateOne({ _id: new Types.ObjectId(String(job.attrs._id)) }, { $set: { data } });
}

/** Routes status-change effects to `agenda`: jobs are scheduled through it, failures logged (and retried later). */
export function installScheduler(agenda: Agenda, c: Config, log: Logger): void {
  configureEffects({
    schedule: scheduler(agenda, c),
    completionGraceMinutes: c.COMPLETION_GRACE_MINUTES,
    onError: (err, context) =>
      log.warn({ err, ...context }, "could not hand over a status change's effects; a worker will retry"),
  });
}

/**
 * The API server's side of jobs: effects schedule through an Agenda that never runs anything. In the
 * all-in-one development mode the in-process worker installs its own scheduler instead.
 */
export function startScheduler(c: Config, log: Logger): { agenda: Agenda; stop(): Promise<void> } {
  const agenda = createAgenda(c);
  installScheduler(agenda, c, log);
  return {
    /** Never started here (no job runs in this process); the job dashboard and /readyz read through it. */
    agenda,
    async stop() {
      configureEffects({ schedule: undefined });
    },
  };
}
