// Worker processes (`dist/src/worker.js`, built by `npm test`) and the waiting that background work calls for.
import mongoose, { Types } from 'mongoose';
import { AGENDA_COLLECTION, jobIdFor } from '../../src/jobs/agenda.js';
import { JOB } from '../../src/jobs/names.js';
import { Reservation } from '../../src/models/reservation.js';
import { ReservationStatus } from '../../src/models/status.js';
import { startProcess, stopProcess, type Proc } from './processes.js';

const started = new Set<Proc>();

/** Starts a worker and resolves once it is processing jobs. Logs at info: tests read its lines. */
export async function startWorkerProcess(env: Record<string, string>): Promise<Proc> {
  const p = startProcess('worker.js', { ...env, LOG_LEVEL: 'info' });
  started.add(p);
  void p.exited.then(() => started.delete(p));
  await p.waitForLine(/worker ready/, 60_000);
  return p;
}

/** Kills the workers a file started and did not stop (a test that timed out skips its `finally`). */
export async function killLeftoverWorkers(): Promise<void> {
  await Promise.all([...started].map((p) => stopProcess(p, 'SIGKILL')));
}

/** Polls `read` until `done` accepts its value; fails with `what` and the last value after `timeoutMs`. */
export async function pollUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const jobs = () => mongoose.connection.collection(AGENDA_COLLECTION);

/**
 * Resolves once no email job is waiting or running: every email scheduled so far has been sent or given up.
 * Email jobs are removed once they succeed, so what is left is pending, running or failed.
 */
export function emailJobsSettled(timeoutMs = 10_000): Promise<number> {
  return pollUntil(
    () =>
      jobs().countDocuments({
        name: { $in: [JOB.newReservationAdminNotification, JOB.reservationStatusEmail] },
        $or: [{ nextRunAt: { $ne: null } }, { lockedAt: { $ne: null } }],
      }),
    (pending) => pending === 0,
    'email jobs to finish',
    timeoutMs,
  );
}

/** The job document of a recurring job (there is one per name, whatever the number of workers). */
export function recurringJob(name: string) {
  return jobs().findOne({ _id: jobIdFor(`every:${name}`) });
}

/**
 * Inserts confirmed reservations directly (the API refuses start times in the past), as confirming them would
 * have left them: a creation and a confirmation event, version 2.
 */
export async function insertConfirmed(count: number, startTime: (i: number) => Date, customer = new Types.ObjectId()) {
  const docs = Array.from({ length: count }, (_, i) => {
    const at = new Date(startTime(i).getTime() - 86_400_000);
    return {
      reference: `T${new Types.ObjectId().toHexString().slice(-7).toUpperCase()}${i}`,
      customer,
      startTime: startTime(i),
      partySize: 2,
      status: ReservationStatus.CONFIRMED,
      history: [
        { _id: new Types.ObjectId(), from: null, to: ReservationStatus.PENDING, at, actor: `customer:${customer}` },
        { _id: new Types.ObjectId(), from: ReservationStatus.PENDING, to: ReservationStatus.CONFIRMED, at, actor: 'admin:test' },
      ],
      version: 2,
    };
  });
  const inserted: { _id: Types.ObjectId }[] = [];
  // In slices: one insert command per slice keeps each request small.
  for (let i = 0; i < docs.length; i += 1000) inserted.push(...(await Reservation.insertMany(docs.slice(i, i + 1000), { lean: true })));
  return inserted.map((d) => d._id);
}
