// Beyond the seed: confirming a reservation schedules this job at its completion deadline, so it completes within
// seconds of it rather than at the next sweep. A reservation cancelled (or completed by the sweep) before then is
// left alone.
import { intervalMs } from '../config.js';
import { Reservation, TRANSITION_SUBJECT_FIELDS } from '../models/reservation.js';
import { ReservationStatus } from '../models/status.js';
import { completionDeadline, completionRequest } from '../status/completion.js';
import type { StatusEventJobData } from '../status/effects.js';
import type { JobContext } from './context.js';
import { JOB } from './names.js';

export function defineCompleteReservation(ctx: JobContext): void {
  const c = ctx.config;
  ctx.agenda.define<StatusEventJobData>(
    JOB.completeReservation,
    async (job) => {
      const { reservationId } = job.attrs.data;
      const subject = await Reservation.findById(reservationId, TRANSITION_SUBJECT_FIELDS).lean();
      if (subject?.status !== ReservationStatus.CONFIRMED) return;
      const deadline = completionDeadline(subject.startTime, c.COMPLETION_GRACE_MINUTES);
      if (deadline > ctx.clock.now()) {
        // Early: this worker's clock is behind the scheduler's, or someone ran it by hand. Run again on time.
        job.schedule(deadline);
        return;
      }
      const [won] = await ctx.status.changeStatuses([completionRequest(subject)]);
      // Lost: a cancel or the sweep changed it first, which is as good.
      if (won) ctx.log.info({ reservationId }, `Auto-completed reservation ${reservationId}`);
    },
    { concurrency: 10, lockLifetime: intervalMs(c.JOB_LOCK_LIFETIME), removeOnComplete: true },
  );
}
