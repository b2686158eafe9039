// Agenda on the application's own MongoDB connection: how jobs are stored, scheduled exactly once per key, and
// registered as recurring exactly once however many workers start.
//
// Agenda locks a job with a conditional update, which FerretDB 1.24 does not apply atomically: there the same job
// can run twice at once, even within one worker (seen: 100 jobs, two workers, 99 run more than once). So every
// handler is safe to run twice: emails are claimed per attempt (mail/deliver.ts), status changes per version
// (src/status/claims.ts). On MongoDB the lock holds and this is merely never exercised.
import { createHash } from 'node:crypto';
import { Agenda, type Job, type JobId } from 'agenda';
import { MongoBackend } from '@agendajs/mongo-backend';
import humanInterval from 'human-interval';
import mongoose, { Types } from 'mongoose';
import { intervalMs, type Config } from '../config.js';
import type { Database } from '../db/connect.js';
import { insertEachOnce, isDuplicateKey } from '../db/writes.js';
import type { ScheduledJob, UnscheduledJobs } from '../status/effects.js';
import type { Scheduler } from '../status/service.js';
import { dueNamesBackend, type DueNamesRepository } from './due-names.js';

export const AGENDA_COLLECTION = 'agendaJobs';

/**
 * An Agenda instance on the application's connection. It polls for due jobs every JOB_POLL_INTERVAL once started;
 * an API server never starts its instance, it only schedules through it. MongoDB offers Agenda no notification
 * channel short of change streams (replica sets only, none on FerretDB), so a short poll is what gets a
 * confirmation's email out within seconds. Where each lock query reads the whole collection (FerretDB), a poll
 * first asks which job names have anything to lock (due-names.ts).
 */
export function createAgenda(c: Config, db: Database, name?: string): Agenda {
  const mongo = db.connection.db as never;
  const gated = db.capabilities.indexedJobLocks
    ? undefined
    : dueNamesBackend(
        { mongo, db: { collection: AGENDA_COLLECTION } },
        intervalMs(c.JOB_POLL_INTERVAL),
        // Read when a job finishes, by then of the agenda made below.
        (job) => agenda.definitions[job]?.removeOnComplete === true,
      );
  const agenda: Agenda = new Agenda({
    // Mongoose bundles its own copy of the driver (the backend's may differ in its patch version), hence the cast;
    // both share one bson package, so documents and ObjectIds pass between them unchanged.
    backend: gated ?? new MongoBackend({ mongo, collection: AGENDA_COLLECTION }),
    processEvery: intervalMs(c.JOB_POLL_INTERVAL),
    defaultLockLifetime: intervalMs(c.JOB_LOCK_LIFETIME),
    ...(name ? { name } : {}),
  });
  return agenda;
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
async function saveOnce(job: Job<unknown>, uniqueKey: string): Promise<void> {
  job.unique({ _id: jobIdFor(uniqueKey) }, { insertOnly: true });
  try {
    await job.save();
  } catch (err) {
    // MongoDB reports the loser of two concurrent upserts of one _id as a duplicate key: already scheduled.
    if (!isDuplicateKey(err)) throw err;
  }
}

/** The status pipeline's scheduler: one Agenda job per `uniqueKey`, however often and by however many processes. */
export class AgendaScheduler implements Scheduler {
  constructor(readonly agenda: Agenda) {}

  /**
   * One insert for all of them, each job's _id derived from its key (jobIdFor): a job already there is left
   * alone, as Agenda's own insert-only save would (which costs a findAndModify per job). The documents are the ones
   * Agenda makes (`create` and `schedule`), so workers lock and run them as their own. What Agenda's save does
   * next is done too: in a worker, the jobs it inserted are announced on its notification channel (and to the
   * FerretDB lock path, due-names.ts), so a completion's email starts at once rather than at the next poll.
   */
  async schedule(jobs: readonly ScheduledJob[]): Promise<void> {
    const made = jobs.map(({ name, data, runAt, uniqueKey }) => {
      const job = this.agenda.create(name, data).schedule(runAt ?? new Date());
      return { job, doc: { ...job.attrs, _id: jobIdFor(uniqueKey), lockedAt: null, lastModifiedBy: null } };
    });
    const inserted = new Set(await insertEachOnce(agendaJobs(), made.map((m) => m.doc)));
    const announce = this.agenda.db as Partial<Pick<DueNamesRepository, 'jobScheduled'>>;
    for (const { job, doc } of made) {
      if (!inserted.has(doc)) continue;
      job.attrs._id = doc._id.toHexString() as JobId;
      announce.jobScheduled?.(job.attrs);
      if (this.agenda.hasNotificationChannel()) await this.agenda.publishJobNotification(job);
    }
  }

  /**
   * Agenda's own `cancel(query)` would do, but it also removes a job a worker is running; a running job is left to
   * finish (it reads the reservation first, finds it moved on and does nothing).
   */
  async unschedule({ reservationId, names }: UnscheduledJobs): Promise<void> {
    // Waiting ones only: not one running (locked), nor the finished copies the dashboard shows (no next run).
    await agendaJobs().deleteMany({ name: { $in: names }, 'data.reservationId': reservationId, lockedAt: null, nextRunAt: { $ne: null } });
  }
}

/** The index `unschedule` finds a reservation's jobs by (created by workers at start; a no-op once it exists). */
export async function ensureJobIndexes(): Promise<void> {
  await agendaJobs().createIndex({ 'data.reservationId': 1, name: 1 }, { name: 'reservationJobs' });
}

/** Schedules any job at most once per `uniqueKey` (the jobs a job schedules: webhook deliveries, an admin email). */
export async function scheduleOnce(
  agenda: Agenda,
  { name, data, runAt, uniqueKey }: { name: string; data: object; runAt?: Date; uniqueKey: string },
): Promise<void> {
  await saveOnce(agenda.create(name, data).schedule(runAt ?? new Date()), uniqueKey);
}

/** Brings forward the job of `uniqueKey` to now, unless it is running (a delivery whose predecessor just finished). */
export async function runSoon(uniqueKey: string, now: Date): Promise<void> {
  await agendaJobs().updateOne({ _id: jobIdFor(uniqueKey), lockedAt: null, nextRunAt: { $gt: now } }, { $set: { nextRunAt: now } });
}

/**
 * Registers a recurring job once for all workers (see jobIdFor). A job already registered keeps its schedule
 * and its lock (a sweep may be running); only a changed interval is applied to it.
 */
export async function registerRecurring(agenda: Agenda, name: string, interval: string): Promise<void> {
  const key = `every:${name}`;
  // As written ("5 minutes", what Agendash and `npm run jobs` show) when Agenda's parser (human-interval) reads it
  // as config.ts did; in milliseconds where it would not ("500 ms" is NaN to it).
  const every = humanInterval(interval) === intervalMs(interval) ? interval : intervalMs(interval);
  await saveOnce(agenda.create(name, {}).repeatEvery(every), key);
  await agendaJobs().updateOne(
    { _id: jobIdFor(key), repeatInterval: { $ne: every } },
    { $set: { repeatInterval: every, nextRunAt: new Date() } },
  );
}

/**
 * Stores a run's outcome on its job document (`data.result`), where Agendash shows it: Agenda 6 keeps no
 * results of its own. The whole `data` is set because Agenda may have stored it as null.
 */
export async function recordResult(job: Job<unknown>, result: string): Promise<void> {
  const data = { ...(job.attrs.data as object | null), result, resultAt: new Date() };
  await agendaJobs().updateOne({ _id: new Types.ObjectId(String(job.attrs._id)) }, { $set: { data } });
}

/** Agenda's collection, for what Agenda has no API for (on the connection the models share). */
export const agendaJobs = () => mongoose.connection.collection(AGENDA_COLLECTION);
