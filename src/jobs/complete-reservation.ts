// Beyond the seed: confirming a reservation schedules this job at its completion deadline, so it completes within
// seconds of it rather than at the next sweep. A reservation cancelled (or completed by the sweep) before then is
// left alone.
import type { Agenda } from 'agenda';
import { intervalMs } from '../config.js';
import { Reservation, TRANSITION_SUBJECT_FIELDS, changeStatuses } from '../models/reservation.js';
import { ReservationStatus } from '../models/status.js';
import { completionDeadline, completionRequest } from './completion.js';
import type { JobContext, StatusEventJobData } from './context.js';
import { JOB } from './names.js';

/** `eventId`: the confirmation that scheduled it. */
export type CompleteReservationData = StatusEventJobData;

export function defineCompleteReservation(agenda: Agenda, ctx: JobContext): void {
  const c = ctx.config;
  agenda.define<CompleteReservationData>(
    JOB.completeReservation,
    async (job) => {
      const { reservationId } = job.attrs.data;
      const subject = await Reservation.findById(reservationId, TRANSITION_SUBJECT_FIELDS).lean();
      if (subject?.status !== ReservationStatus.CONFIRMED) return;
      const deadline = completionDeadline(subject.startTime, c.COMPLETION_GRACE_MINUTES);
      if (deadline > new Date()) {
        // Early: this worker's clock is behind the scheduler's, or someone ran it by hand. Run again on time.
        job.schedule(deadline);
        return;
      }
      const [won] = await changeStatuses([completionRequest(subject)]);
      // Lost: a cancel or the sweep changed it first, which is as good.
      if (won) ctx.log.info({ reservationId }, `Auto-completed reservation ${reservationId}`);
    },
    { concurrency: 10, lockLifetime: intervalMs(c.JOB_LOCK_LIFETIME), removeOnComplete: true },
  );
}
