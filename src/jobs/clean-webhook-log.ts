// The delivery log's retention: attempts older than WEBHOOK_LOG_RETENTION (and finished deliveries) deleted by a
// recurring job, since FerretDB 1.24 has no TTL indexes.
import { intervalMs } from '../config.js';
import { cleanLog } from '../webhooks/delivery.js';
import { recordResult } from './agenda.js';
import type { JobContext } from './context.js';
import { JOB } from './names.js';

/** How often it runs: a tenth of the retention, between 1 second and 1 hour. */
export function cleanWebhookLogInterval(retention: string): string {
  return `${Math.min(3_600_000, Math.max(1_000, Math.floor(intervalMs(retention) / 10)))} ms`;
}

export function defineCleanWebhookLog(ctx: JobContext): void {
  ctx.agenda.define(
    JOB.cleanWebhookLog,
    async (job) => {
      const removed = await cleanLog(ctx.config, ctx.clock.now());
      if (removed.attempts || removed.deliveries) ctx.log.info(removed, 'webhook log entries past WEBHOOK_LOG_RETENTION deleted');
      await recordResult(job, `Deleted ${removed.attempts} attempts and ${removed.deliveries} deliveries`);
    },
    { concurrency: 1, lockLifetime: intervalMs(ctx.config.JOB_LOCK_LIFETIME) },
  );
}
