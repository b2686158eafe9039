// The reservation lifecycle: which status may follow which. The one table every path consults.
export enum ReservationStatus {
  PENDING = 'PENDING',
  CONFIRMED = 'CONFIRMED',
  COMPLETED = 'COMPLETED',
  CANCELLED = 'CANCELLED',
}

export enum Role {
  CUSTOMER = 'CUSTOMER',
  ADMIN = 'ADMIN',
}

const allowed: Record<ReservationStatus, readonly ReservationStatus[]> = {
  [ReservationStatus.PENDING]: [ReservationStatus.CONFIRMED, ReservationStatus.CANCELLED],
  [ReservationStatus.CONFIRMED]: [ReservationStatus.COMPLETED, ReservationStatus.CANCELLED],
  [ReservationStatus.COMPLETED]: [],
  [ReservationStatus.CANCELLED]: [],
};

/** The statuses a reservation may be in for a move to `to` to be valid. */
export function statusesAllowedBefore(to: ReservationStatus): ReservationStatus[] {
  return (Object.keys(allowed) as ReservationStatus[]).filter((from) => allowed[from].includes(to));
}

export function canTransition(from: ReservationStatus, to: ReservationStatus): boolean {
  return allowed[from].includes(to);
}
