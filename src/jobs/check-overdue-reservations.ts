// The seed's `check_overdue_reservations`, every COMPLETION_SWEEP_INTERVAL: completes every CONFIRMED reservation
// past its deadline. The safety net behind `complete-reservation`.
//
// In bulk, with bounded memory: each round reads one batch of due reservations (only the fields a status change
// needs) and changes them all through the one status-change path (claim, apply, dispatch: a bulk write per step),
// so each still gets its history event and live event, and no email. Safe with several workers sweeping and with
// cancels racing: every change is claimed per reservation version, so each reservation is completed once.
import type { Agenda } from 'agenda';
import type { Types } from 'mongoose';
import type { Logger } from 'pino';
import { intervalMs } from '../config.js';
import { Reservation, TRANSITION_SUBJECT_FIELDS, changeStatuses } from '../models/reservation.js';
import { ReservationStatus } from '../models/status.js';
import { recordResult } from './agenda.js';
import { completionCutoff, completionRequest } from './completion.js';
import type { JobContext } from './context.js';
import { JOB } from './names.js';

/** Holds the last run's outcome (`recordResult`). */
export interface CheckOverdueReservationsData {
  result?: string;
  resultAt?: Date;
}

/**
 * Completes the CONFIRMED reservations that started at or before `cutoff`; returns how many this call completed.
 * Walks them in (startTime, _id) order, each once: a reservation whose change was lost (a cancel or another
 * sweep won, or a change whose process died and that the reconciler will finish) is not retried in this run.
 */
export async function completeOverdueReservations(opts: {
  cutoff: Date;
  batchSize: number;
  log: Logger;
  /** After each batch: the job keeps its lock alive. */
  afterBatch?: () => Promise<void>;
}): Promise<number> {
  let completed = 0;
  let last: { startTime: Date; _id: Types.ObjectId } | undefined;
  for (;;) {
    const subjects = await Reservation.find(
      {
        status: ReservationStatus.CONFIRMED,
        startTime: { $lte: opts.cutoff },
        ...(last && { $or: [{ startTime: { $gt: last.startTime } }, { startTime: last.startTime, _id: { $gt: last._id } }] }),
      },
      TRANSITION_SUBJECT_FIELDS,
    )
      .sort({ startTime: 1, _id: 1 })
      .limit(opts.batchSize)
      .lean();
    if (subjects.length === 0) return completed;
    last = subjects.at(-1)!;
    const won = await changeStatuses(subjects.map(completionRequest));
    for (const { reservation } of won) {
      opts.log.info({ reservationId: reservation.toString() }, `Auto-completed overdue reservation ${reservation.toString()}`);
    }
    completed += won.length;
    await opts.afterBatch?.();
  }
}

export function defineCheckOverdueReservations(agenda: Agenda, ctx: JobContext): void {
  const c = ctx.config;
  agenda.define<CheckOverdueReservationsData>(
    JOB.checkOverdueReservations,
    async (job) => {
      const count = await completeOverdueReservations({
        cutoff: completionCutoff(new Date(), c.COMPLETION_GRACE_MINUTES),
        batchSize: c.COMPLETION_BATCH_SIZE,
        log: ctx.log,
        afterBatch: () => job.touch(),
      });
      const result = `Processed ${count} overdue reservations`;
      ctx.log.info({ completed: count }, result);
      await recordResult(job, result);
    },
    { concurrency: 1, lockLifetime: intervalMs(c.JOB_LOCK_LIFETIME) },
  );
}
