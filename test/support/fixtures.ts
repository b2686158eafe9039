// Reservations as the application stores them, for what the API cannot make: start times in the past, thousands
// at once. Each is built by the Mongoose model (its defaults, validation and shape) from events made by
// `newStatusEvent`, as the status pipeline makes them; bulk inserts go through the driver, for speed.
import { Types } from 'mongoose';
import { Reservation } from '../../src/models/reservation.js';
import { newStatusEvent, type StatusEventRecord } from '../../src/models/status-event.js';
import { ReservationStatus } from '../../src/models/status.js';

const { PENDING, CONFIRMED } = ReservationStatus;

export interface ReservationFixture {
  customer: Types.ObjectId;
  startTime: Date;
  /** When it was made (and confirmed, for a confirmed one). */
  at?: Date;
  partySize?: number;
}

/** A pending reservation as `createReservation` stores it: its creation event, version 1. */
export async function pendingReservation({ customer, startTime, at = new Date(), partySize = 2 }: ReservationFixture) {
  return stored({ customer, startTime, partySize }, [created(customer, at)]);
}

/**
 * A confirmed reservation as an admin's confirmation leaves it: a creation and a confirmation event, version 2.
 * Made and confirmed the day before it starts, unless `at` says otherwise.
 */
export async function confirmedReservation({ customer, startTime, at = new Date(startTime.getTime() - 86_400_000), partySize = 2 }: ReservationFixture) {
  return stored({ customer, startTime, partySize }, [created(customer, at), newStatusEvent(PENDING, CONFIRMED, 'admin:fixture', null, at)]);
}

const created = (customer: Types.ObjectId, at: Date) => newStatusEvent(null, PENDING, `customer:${customer.toHexString()}`, null, at);

/** The document the model makes of these fields and events, validated: status, version and timestamps follow the events. */
async function stored(fields: { customer: Types.ObjectId; startTime: Date; partySize: number }, history: StatusEventRecord[]) {
  const _id = new Types.ObjectId();
  const last = history.at(-1)!;
  const doc = new Reservation({
    _id,
    reference: referenceOf(_id),
    ...fields,
    status: last.to,
    history,
    version: history.length,
    createdAt: history[0]!.at,
    updatedAt: last.at,
  });
  await doc.validate();
  return doc.toObject();
}

/**
 * Its ObjectId's counter, in hex (within the references' alphabet): unique among the documents this process makes,
 * where random references would collide about once in 200 seedings of 100,000.
 */
const referenceOf = (id: Types.ObjectId) => id.toHexString().slice(-8).toUpperCase();

/**
 * Another reservation like `doc` (one of the above): the same fields with its own ids and reference. For loops that
 * measure writes: building each document through the model costs ~50 µs, a copy next to nothing.
 */
export function anotherLike<T extends { _id: Types.ObjectId; history: { _id: Types.ObjectId }[] }>(doc: T): T {
  const _id = new Types.ObjectId();
  return { ...doc, _id, reference: referenceOf(_id), history: doc.history.map((e) => ({ ...e, _id: new Types.ObjectId() })) };
}

/** What `insertConfirmed` writes to: a reservations collection (another connection's, for a benchmark). */
export interface ReservationsCollection {
  insertMany(docs: never[], options: { ordered: boolean }): Promise<unknown>;
}

/**
 * Inserts `count` confirmed reservations (see `confirmedReservation`), the i-th starting at `startTime(i)`, and
 * resolves with their ids. With the driver, 1,000 per command: one command per slice keeps each request small.
 */
export async function insertConfirmed(
  count: number,
  startTime: (i: number) => Date,
  customer = new Types.ObjectId(),
  collection: ReservationsCollection = Reservation.collection,
): Promise<Types.ObjectId[]> {
  const docs = await Promise.all(Array.from({ length: count }, (_, i) => confirmedReservation({ customer, startTime: startTime(i) })));
  for (let i = 0; i < docs.length; i += 1000) await collection.insertMany(docs.slice(i, i + 1000) as never[], { ordered: false });
  return docs.map((d) => d._id);
}
