// The seed's `check_overdue_reservations`, every COMPLETION_SWEEP_INTERVAL: completes every CONFIRMED reservation
// past its deadline. The safety net behind `complete-reservation`.
//
// In bulk, with bounded memory: each round reads one batch of due reservations (only the fields a status change
// needs) and changes them all through the one status-change path (claim, apply, dispatch: a bulk write per step),
// so each still gets its history event and live event, and no email. Safe with several workers sweeping and with
// cancels racing: every change is claimed per reservation version, so each reservation is completed once.
import type { Logger } from 'pino';
import { intervalMs } from '../config.js';
import { afterPosition, type Position } from '../db/keyset.js';
import { Reservation, TRANSITION_SUBJECT_FIELDS } from '../models/reservation.js';
import { ReservationStatus } from '../models/status.js';
import { completionCutoff, completionRequest } from '../status/completion.js';
import type { StatusService } from '../status/service.js';
import { recordResult } from './agenda.js';
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
  status: StatusService;
  cutoff: Date;
  batchSize: number;
  log: Logger;
  /** After each batch: the job keeps its lock alive. */
  afterBatch?: () => Promise<void>;
}): Promise<number> {
  let completed = 0;
  let last: Position | undefined;
  for (;;) {
    const subjects = await Reservation.find(
      {
        status: ReservationStatus.CONFIRMED,
        startTime: { $lte: opts.cutoff },
        ...(last && afterPosition(last)),
      },
      TRANSITION_SUBJECT_FIELDS,
    )
      .sort({ startTime: 1, _id: 1 })
      .limit(opts.batchSize)
      // The whole batch in the first reply: the driver's default (101) would cost a getMore per batch.
      .batchSize(opts.batchSize)
      .lean();
    if (subjects.length === 0) return completed;
    const newest = subjects.at(-1)!;
    last = { startTime: newest.startTime, id: newest._id };
    const won = await opts.status.changeStatuses(subjects.map(completionRequest));
    for (const { reservationId } of won) {
      opts.log.info({ reservationId }, `Auto-completed overdue reservation ${reservationId}`);
    }
    completed += won.length;
    await opts.afterBatch?.();
  }
}

/**
 * Keeps the job's lock alive: renews it once `everyMs` has passed since the last renewal, not after every batch (a
 * renewal is a command; batches come every few hundred milliseconds, the lock lasts JOB_LOCK_LIFETIME).
 */
function touchEvery(job: { touch(): Promise<unknown> }, everyMs: number): () => Promise<void> {
  let touchedAt = Date.now();
  return async () => {
    if (Date.now() - touchedAt < everyMs) return;
    touchedAt = Date.now();
    await job.touch();
  };
}

export function defineCheckOverdueReservations(ctx: JobContext): void {
  const c = ctx.config;
  ctx.agenda.define<CheckOverdueReservationsData>(
    JOB.checkOverdueReservations,
    async (job) => {
      const count = await completeOverdueReservations({
        status: ctx.status,
        cutoff: completionCutoff(ctx.clock.now(), c.COMPLETION_GRACE_MINUTES),
        batchSize: c.COMPLETION_BATCH_SIZE,
        log: ctx.log,
        afterBatch: touchEvery(job, intervalMs(c.JOB_LOCK_LIFETIME) / 4),
      });
      const result = `Processed ${count} overdue reservations`;
      ctx.log.info({ completed: count }, result);
      await recordResult(job, result);
    },
    { concurrency: 1, lockLifetime: intervalMs(c.JOB_LOCK_LIFETIME) },
  );
}
