// The reservation lifecycle: which status may follow which. The one table every path consults.
import { ReservationStatus } from '../models/status.js';

const ALLOWED: Readonly<Record<ReservationStatus, readonly ReservationStatus[]>> = Object.freeze({
  [ReservationStatus.PENDING]: [ReservationStatus.CONFIRMED, ReservationStatus.CANCELLED],
  [ReservationStatus.CONFIRMED]: [ReservationStatus.COMPLETED, ReservationStatus.CANCELLED],
  [ReservationStatus.COMPLETED]: [],
  [ReservationStatus.CANCELLED]: [],
});

export function canTransition(from: ReservationStatus, to: ReservationStatus): boolean {
  return ALLOWED[from].includes(to);
}
