// A status change's webhook effect: one delivery per subscribed endpoint, each with a deliver-webhook job of its own
// (src/webhooks/delivery.ts). Which endpoints is only known at run time, hence this step between the change and
// the deliveries (effectsOf stays a function of the change alone).
import { intervalMs } from '../config.js';
import type { StatusEventJobData } from '../status/effects.js';
import { fanOut } from '../webhooks/delivery.js';
import type { JobContext } from './context.js';
import { JOB } from './names.js';

export function defineFanOutWebhook(ctx: JobContext): void {
  ctx.agenda.define<StatusEventJobData>(JOB.fanOutWebhook, async (job) => void (await fanOut(ctx.webhooks, job.attrs.data)), {
    concurrency: 10,
    lockLimit: 20,
    lockLifetime: intervalMs(ctx.config.JOB_LOCK_LIFETIME),
    removeOnComplete: true,
  });
}
