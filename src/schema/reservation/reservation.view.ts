import type { StoredReservation } from '../../models/reservation.js';
import type { StatusEventRecord } from '../../models/status-event.js';
import type { ReservationStatus } from '../../models/status.js';
import type { Reservation, ReservationEvent } from './reservation.type.js';

export function eventView(e: StatusEventRecord): ReservationEvent {
  return {
    id: e._id.toString(),
    from: (e.from as ReservationStatus | null) ?? null,
    to: e.to as ReservationStatus,
    at: e.at,
    actor: e.actor,
    reason: e.reason ?? null,
  };
}

/** A reservation document (or its lean object) as the GraphQL type; the history comes with it, no extra query. */
export function reservationView(r: StoredReservation): Reservation {
  return {
    id: r._id.toString(),
    reference: r.reference,
    customerId: r.customer.toString(),
    startTime: r.startTime,
    partySize: r.partySize,
    notes: r.notes ?? null,
    status: r.status as ReservationStatus,
    cancellationReason: r.cancellationReason ?? null,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    history: (r.history as StatusEventRecord[]).map(eventView),
  };
}
