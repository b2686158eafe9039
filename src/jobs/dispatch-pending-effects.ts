// Every PENDING_EFFECTS_INTERVAL: hands over the effects of status changes claimed more than PENDING_EFFECTS_AFTER
// ago whose process stopped between committing them and handing them over (an API server killed right after a confirmation, a worker killed
// mid-sweep), applying the change first if it was only claimed. That is what makes "a committed change always
// gets its email and live event" hold (src/status/service.ts).
import { intervalMs } from '../config.js';
import type { JobContext } from './context.js';
import { JOB } from './names.js';

/** Changes finished per step; the job renews its lock between steps, so a long backlog never outlives it. */
const STEP = 20;
/** Steps per run: a backlog larger than this is finished by the next runs. */
const MAX_STEPS = 25;

export function defineDispatchPendingEffects(ctx: JobContext): void {
  const c = ctx.config;
  ctx.agenda.define(
    JOB.dispatchPendingEffects,
    async (job) => {
      // A younger change may still be on its way in its own process: leave it to that one.
      const olderThanMs = intervalMs(c.PENDING_EFFECTS_AFTER);
      let dispatched = 0;
      for (let step = 0; step < MAX_STEPS; step++) {
        const n = await ctx.status.dispatchPendingEffects({ olderThanMs, limit: STEP });
        dispatched += n;
        if (n === 0) break;
        await job.touch();
      }
      if (dispatched > 0) ctx.log.info({ dispatched }, 'dispatched the pending effects of status changes left by a stopped process');
    },
    { concurrency: 1, lockLifetime: intervalMs(c.JOB_LOCK_LIFETIME) },
  );
}
