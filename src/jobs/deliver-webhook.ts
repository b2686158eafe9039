// One webhook delivery to one endpoint (src/webhooks/delivery.ts): an attempt per run, its retries scheduled by
// the run itself per WEBHOOK_RETRY_SCHEDULE (a failed attempt is an outcome, recorded in the log, not a job
// failure). Its own job name and concurrency, so slow receivers never hold the slots email jobs run in.
import { intervalMs } from '../config.js';
import { attempt, type DeliveryJobData } from '../webhooks/delivery.js';
import type { JobContext } from './context.js';
import { JOB } from './names.js';

/** Deliveries one worker runs at once (each waits at most WEBHOOK_TIMEOUT). */
export const DELIVERY_CONCURRENCY = 20;

export function defineDeliverWebhook(ctx: JobContext): void {
  ctx.agenda.define<DeliveryJobData>(JOB.deliverWebhook, async (job) => void (await attempt(ctx.webhooks, job)), {
    concurrency: DELIVERY_CONCURRENCY,
    lockLimit: DELIVERY_CONCURRENCY * 2,
    lockLifetime: intervalMs(ctx.config.JOB_LOCK_LIFETIME),
    removeOnComplete: true,
  });
}
