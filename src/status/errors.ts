import type { ReservationStatus } from '../models/status.js';

/**
 * A status change that cannot be made: no such reservation (in the caller's reach), not from its status (or not
 * yet: a no-show before the start), or a customer's cancellation inside CANCELLATION_CUTOFF.
 */
export class TransitionError extends Error {
  constructor(
    readonly kind: 'NOT_FOUND' | 'INVALID_TRANSITION' | 'CANCELLATION_CLOSED',
    readonly current?: ReservationStatus,
    readonly to?: ReservationStatus,
    message?: string,
  ) {
    super(
      message ??
        (kind === 'NOT_FOUND'
          ? 'Reservation not found'
          : kind === 'CANCELLATION_CLOSED'
            ? 'This reservation can no longer be cancelled online'
            : `Cannot change a ${current?.toLowerCase()} reservation to ${to?.toLowerCase()}`),
    );
  }
}
