// The statuses and roles the schemas store. Which status may follow which is the status pipeline's rule
// (src/status/lifecycle.ts).
export enum ReservationStatus {
  PENDING = 'PENDING',
  CONFIRMED = 'CONFIRMED',
  COMPLETED = 'COMPLETED',
  CANCELLED = 'CANCELLED',
  /** The customer did not come: recorded by an admin after the start time. Final. */
  NO_SHOW = 'NO_SHOW',
}

export enum Role {
  CUSTOMER = 'CUSTOMER',
  ADMIN = 'ADMIN',
}
