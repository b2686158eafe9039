// What the job dashboard shows of a finished job: a finished copy of it, written when it succeeds, while the job
// itself is removed (`removeOnComplete`). purge-job-history removes the copies after JOB_HISTORY_RETENTION.
//
// Not the job document kept as it is: on FerretDB 1.24 an update rewrites the whole document from what it read, so
// two runs of one job (its locks are not exclusive there) can write an earlier state back over the finished one,
// making it due again, and again after each such run. A removed job stays removed, and a copy that no worker
// ever locks (no next run) is never written again. The copies of a second go in one insert: on FerretDB every
// write to the jobs collection takes its turn at SQLite's one writer, which the job locks are waiting for.
import type { Agenda, Job } from 'agenda';
import type { Logger } from 'pino';
import { insertEachOnce } from '../db/writes.js';
import { agendaJobs, jobIdFor } from './agenda.js';

const FLUSH_MS = 1_000;

export interface FinishedCopies {
  /** Writes the copies still waiting, and stops. */
  stop(): Promise<void>;
}

/** Keeps a finished copy of each successful run of the jobs named. */
export function keepFinishedCopies(agenda: Agenda, names: readonly string[], log: Logger): FinishedCopies {
  let waiting = new Map<string, object>();
  const flush = async () => {
    if (waiting.size === 0) return;
    const copies = [...waiting.values()];
    waiting = new Map();
    await insertEachOnce(agendaJobs(), copies).catch((err) =>
      log.warn({ err, copies: copies.length }, 'could not keep finished jobs for the dashboard'),
    );
  };
  const timer = setInterval(() => void flush(), FLUSH_MS);
  timer.unref();
  for (const name of names) {
    agenda.on(`success:${name}`, (job: Job<unknown>) => {
      const copy = finishedCopy(job);
      // One copy per job, however many runs of it succeed.
      waiting.set(String(copy._id), copy);
    });
  }
  return {
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}

function finishedCopy(job: Job<unknown>) {
  const { _id, name, data, priority, lastRunAt, lastFinishedAt, lastModifiedBy } = job.attrs;
  return {
    _id: jobIdFor(`finished:${String(_id)}`),
    name,
    data,
    type: 'normal',
    priority: priority ?? 0,
    nextRunAt: null,
    lockedAt: null,
    lastRunAt: lastRunAt ?? new Date(),
    lastFinishedAt: lastFinishedAt ?? new Date(),
    lastModifiedBy: lastModifiedBy ?? null,
  };
}
