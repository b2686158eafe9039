// Documents the benchmarks seed: shaped exactly as the application stores them.
import { Types } from 'mongoose';
import { newReference } from '../../src/status/reference.js';
import { ReservationStatus } from '../../src/models/status.js';

/** A confirmed reservation as confirming it through the API leaves it: a creation and a confirmation event. */
export function confirmedReservation(startTime: Date, customer: Types.ObjectId, i: number) {
  const at = new Date(startTime.getTime() - 86_400_000);
  return {
    _id: new Types.ObjectId(),
    // Unique without drawing random references: `newReference` is the app's, for the pending docs below.
    reference: `S${i.toString(32).toUpperCase().padStart(7, '0')}`,
    customer,
    startTime,
    partySize: 2,
    status: ReservationStatus.CONFIRMED,
    history: [
      { _id: new Types.ObjectId(), from: null, to: ReservationStatus.PENDING, at, actor: `customer:${customer.toHexString()}` },
      { _id: new Types.ObjectId(), from: ReservationStatus.PENDING, to: ReservationStatus.CONFIRMED, at, actor: 'admin:bench' },
    ],
    version: 2,
    createdAt: at,
    updatedAt: at,
  };
}

/** A pending reservation as `createReservation` stores it (its creation event only). */
export function pendingReservation(startTime: Date, customer: Types.ObjectId) {
  const at = new Date();
  return {
    _id: new Types.ObjectId(),
    reference: newReference(),
    customer,
    startTime,
    partySize: 2,
    status: ReservationStatus.PENDING,
    history: [{ _id: new Types.ObjectId(), from: null, to: ReservationStatus.PENDING, at, actor: `customer:${customer.toHexString()}` }],
    version: 1,
    createdAt: at,
    updatedAt: at,
  };
}

/** Inserts with the driver, 1,000 documents per command (one command per slice keeps requests small). */
export async function insertReservations(
  reservations: { insertMany(docs: never[], options: { ordered: boolean }): Promise<unknown> },
  docs: object[],
): Promise<void> {
  for (let i = 0; i < docs.length; i += 1000) {
    await reservations.insertMany(docs.slice(i, i + 1000) as never[], { ordered: false });
  }
}
