// What the job dashboard shows of a finished job: a finished copy of it, written when it succeeds, while the job
// itself is removed (`removeOnComplete`). purge-job-history removes the copies after JOB_HISTORY_RETENTION.
//
// Not the job document kept as it is: on FerretDB 1.24 an update rewrites the whole document from what it read, so
// two runs of one job (its locks are not exclusive there) can write an earlier state back over the finished one,
// making it due again, and again after each such run. A removed job stays removed, and a copy that no worker
// ever locks (no next run) is never written again.
import type { Agenda, Job } from 'agenda';
import type { Logger } from 'pino';
import { insertOnce } from '../db/writes.js';
import { agendaJobs, jobIdFor } from './agenda.js';

/** Keeps a finished copy of each successful run of the jobs named. */
export function keepFinishedCopies(agenda: Agenda, names: readonly string[], log: Logger): void {
  for (const name of names) {
    agenda.on(`success:${name}`, (job: Job<unknown>) => {
      void keepFinishedCopy(job).catch((err) => log.warn({ err, job: name, jobId: String(job.attrs._id) }, 'could not keep the finished job for the dashboard'));
    });
  }
}

async function keepFinishedCopy(job: Job<unknown>): Promise<void> {
  const { _id, name, data, priority, lastRunAt, lastModifiedBy } = job.attrs;
  // One copy per job, however many runs of it succeed.
  await insertOnce(agendaJobs(), {
    _id: jobIdFor(`finished:${String(_id)}`),
    name,
    data,
    type: 'normal',
    priority: priority ?? 0,
    nextRunAt: null,
    lockedAt: null,
    lastRunAt: lastRunAt ?? new Date(),
    lastFinishedAt: job.attrs.lastFinishedAt ?? new Date(),
    lastModifiedBy: lastModifiedBy ?? null,
  });
}
