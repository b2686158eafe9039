// The outbox reconciler: every OUTBOX_RECONCILE_INTERVAL, finishes the status changes whose process stopped
// between committing them and handing over their effects (an API server killed right after a confirmation, a
// worker killed mid-sweep). That is what makes "a committed change always gets its email and live event" hold.
import type { Agenda } from 'agenda';
import { intervalMs } from '../config.js';
import { recoverStaleClaims } from '../models/reservation.js';
import type { JobContext } from './context.js';
import { JOB } from './names.js';

/** Changes finished per step; the job renews its lock between steps, so a long backlog never outlives it. */
const STEP = 20;
/** Steps per run: a backlog larger than this is finished by the next runs. */
const MAX_STEPS = 25;

export function defineDispatchPendingEffects(agenda: Agenda, ctx: JobContext): void {
  const c = ctx.config;
  agenda.define(
    JOB.dispatchPendingEffects,
    async (job) => {
      // A change younger than one interval may still be on its way in its own process: leave it to that one.
      const olderThanMs = intervalMs(c.OUTBOX_RECONCILE_INTERVAL);
      let recovered = 0;
      for (let step = 0; step < MAX_STEPS; step++) {
        const n = await recoverStaleClaims(olderThanMs, STEP);
        recovered += n;
        if (n === 0) break;
        await job.touch();
      }
      if (recovered > 0) ctx.log.info({ recovered }, 'finished status changes left undispatched by a stopped process');
    },
    { concurrency: 1, lockLifetime: intervalMs(c.JOB_LOCK_LIFETIME) },
  );
}
