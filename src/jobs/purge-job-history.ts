// Every JOB_HISTORY_PURGE_INTERVAL: removes the jobs that finished successfully more than JOB_HISTORY_RETENTION ago
// (sent emails and the like). Until then they stay in Agendash and `npm run jobs`, so an operator can see what
// was sent and when. Jobs left failed stay until someone retries or deletes them; recurring jobs always stay.
//
// A job of its own rather than a TTL index: FerretDB 1.24 has no TTL indexes, and Agenda 6 keeps no history limit.
import { Types } from 'mongoose';
import { intervalMs } from '../config.js';
import { agendaJobs, recordResult } from './agenda.js';
import type { JobContext } from './context.js';
import { JOB } from './names.js';

/** Jobs removed per delete: one bounded command each, the lock renewed between them. */
const BATCH = 200;

interface FinishedJob {
  _id: Types.ObjectId;
  lastFinishedAt: Date;
  failedAt?: Date | null;
}

/** Removes the jobs that succeeded before `cutoff`; returns how many. */
export async function purgeJobHistory(cutoff: Date, afterBatch?: () => Promise<void>): Promise<number> {
  const jobs = agendaJobs();
  // Finished (nothing scheduled, no worker holds it) before the cutoff, one-off, not paused.
  const candidates = jobs
    .find<FinishedJob>(
      {
        nextRunAt: null,
        lockedAt: null,
        lastFinishedAt: { $lt: cutoff },
        repeatInterval: null,
        disabled: { $ne: true },
      },
      { projection: { _id: 1, lastFinishedAt: 1, failedAt: 1 } },
    )
    .batchSize(BATCH);
  let removed = 0;
  let batch: Types.ObjectId[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const { deletedCount } = await jobs.deleteMany({ _id: { $in: batch }, nextRunAt: null, lockedAt: null });
    removed += deletedCount;
    batch = [];
    await afterBatch?.();
  };
  for await (const job of candidates) {
    // Agenda stamps a failure's failedAt and lastFinishedAt with one time: a run that failed last is no history
    // but work to look at (`npm run jobs -- failed`). A job that failed and then succeeded finished after it failed.
    if (job.failedAt && job.failedAt.getTime() === job.lastFinishedAt.getTime()) continue;
    batch.push(job._id);
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  return removed;
}

export function definePurgeJobHistory(ctx: JobContext): void {
  const c = ctx.config;
  ctx.agenda.define(
    JOB.purgeJobHistory,
    async (job) => {
      const cutoff = new Date(ctx.clock.now().getTime() - intervalMs(c.JOB_HISTORY_RETENTION));
      const removed = await purgeJobHistory(cutoff, () => job.touch());
      if (removed > 0) ctx.log.info({ removed, finishedBefore: cutoff }, `Removed ${removed} finished jobs`);
      await recordResult(job, `Removed ${removed} jobs finished before ${cutoff.toISOString()}`);
    },
    { concurrency: 1, lockLifetime: intervalMs(c.JOB_LOCK_LIFETIME) },
  );
}
