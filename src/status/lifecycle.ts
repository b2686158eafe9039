// The reservation lifecycle: which status may follow which. The one table every path consults.
import { ReservationStatus } from '../models/status.js';

const ALLOWED: Readonly<Record<ReservationStatus, readonly ReservationStatus[]>> = Object.freeze({
  [ReservationStatus.PENDING]: [ReservationStatus.CONFIRMED, ReservationStatus.CANCELLED],
  [ReservationStatus.CONFIRMED]: [ReservationStatus.COMPLETED, ReservationStatus.CANCELLED, ReservationStatus.NO_SHOW],
  [ReservationStatus.COMPLETED]: [],
  [ReservationStatus.CANCELLED]: [],
  [ReservationStatus.NO_SHOW]: [],
});

/** The statuses nothing follows. */
export const FINAL_STATUSES: readonly ReservationStatus[] = Object.freeze(
  (Object.keys(ALLOWED) as ReservationStatus[]).filter((s) => ALLOWED[s].length === 0),
);

export function canTransition(from: ReservationStatus, to: ReservationStatus): boolean {
  return ALLOWED[from].includes(to);
}

/** Moves that also depend on the time: nobody can be recorded as not having come before they were due. */
export function isTooEarly(to: ReservationStatus, startTime: Date, now: Date): boolean {
  return to === ReservationStatus.NO_SHOW && now.getTime() < startTime.getTime();
}
