import type { ReservationStatus } from '../models/status.js';

/** A status change that cannot be made: no such reservation (in the caller's reach), or not from its status. */
export class TransitionError extends Error {
  constructor(
    readonly kind: 'NOT_FOUND' | 'INVALID_TRANSITION',
    readonly current?: ReservationStatus,
    readonly to?: ReservationStatus,
  ) {
    super(
      kind === 'NOT_FOUND'
        ? 'Reservation not found'
        : `Cannot change a ${current?.toLowerCase()} reservation to ${to?.toLowerCase()}`,
    );
  }
}
