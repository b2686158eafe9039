// The jobs workers run (support/processes.ts starts the workers): waiting for them, reading them.
import mongoose from 'mongoose';
import { AGENDA_COLLECTION, jobIdFor } from '../../src/jobs/agenda.js';
import { JOB } from '../../src/jobs/names.js';
import { pollUntil } from './poll.js';

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
 * Resolves once every committed status change has handed over its effects (jobs scheduled, live event stored).
 * Over HTTP that happens just after the response (src/status/service.ts), so a test that reads the jobs a
 * mutation scheduled waits for this first.
 */
export function effectsHandedOver(timeoutMs = 10_000): Promise<number> {
  return pollUntil(
    () => mongoose.connection.collection('statusclaims').countDocuments({ dispatched: false }),
    (pending) => pending === 0,
    'status changes to hand over their effects',
    timeoutMs,
  );
}
