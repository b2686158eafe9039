// The completion rule, shared by the confirmation's effects, the sweep and the one-off job: a CONFIRMED
// reservation becomes COMPLETED once COMPLETION_GRACE_MINUTES have passed since its start (the boundary included).
import type { TransitionSubject } from '../models/reservation.js';
import { ReservationStatus } from '../models/status.js';
import type { TransitionRequest } from './claims.js';

export const AUTO_COMPLETE_ACTOR = 'system:auto-complete';

/** When a reservation starting at `startTime` is due to complete. */
export function completionDeadline(startTime: Date, graceMinutes: number): Date {
  return new Date(startTime.getTime() + graceMinutes * 60_000);
}

/** Reservations that started at or before this instant are due at `now`. */
export function completionCutoff(now: Date, graceMinutes: number): Date {
  return new Date(now.getTime() - graceMinutes * 60_000);
}

export function completionRequest(subject: TransitionSubject): TransitionRequest {
  return { subject, to: ReservationStatus.COMPLETED, actor: AUTO_COMPLETE_ACTOR };
}
