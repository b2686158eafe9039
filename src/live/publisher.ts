// Publishing a status change to every API server: store it under the next sequence number; each server's
// feed (feed.ts) reads it from there. Runs in whichever process made the change.
//
// The number is taken by inserting it: `_id` is unique, so of the publishers that try the same number
// exactly one succeeds, and the others try the next one. A number is only tried once the one before it
// exists, so numbers become visible in order and without gaps: a feed that has read n only needs n + 1.
// (A counter document incremented with $inc would be simpler, but FerretDB 1.24 on SQLite does not apply
// concurrent updates atomically: 400 concurrent `$inc`s left the counter at 17.)
import { configureEffects, type StatusChange } from '../models/effects.js';
import { childLogger } from '../logger.js';
import { LiveEvent, sequenceKey, sequenceNumber } from './live-event.model.js';

/**
 * Events kept for a feed that falls a little behind; older ones are deleted. Few on purpose: FerretDB 1.24
 * (SQLite) scans the whole collection for every query, so each kept event costs every read a little.
 */
export const RETAINED_EVENTS = 200;
/** The publisher of every PRUNE_EVERY-th event deletes what is past retention: cleanup scales with writes. */
const PRUNE_EVERY = 50;
/** Each failed attempt means another publisher succeeded; this many in a row means something else is wrong. */
const MAX_ATTEMPTS = 50;

/** Every process that changes statuses (API servers, workers) installs this at start-up. */
export function installLivePublisher(): void {
  configureEffects({ publish: publishStatusChange });
}

export async function publishStatusChange(change: StatusChange): Promise<void> {
  const { _id: eventId, from, to, at, actor, reason } = change.event;
  for (let attempt = 1; ; attempt++) {
    const seq = (await lastSequenceNumber()) + 1;
    try {
      await LiveEvent.create({
        _id: sequenceKey(seq),
        eventId,
        reservationId: change.reservationId,
        customerId: change.customerId,
        event: { from, to, at, actor, ...(reason ? { reason } : {}) },
      });
      if (seq % PRUNE_EVERY === 0 && seq > RETAINED_EVENTS) prune(seq - RETAINED_EVENTS);
      return;
    } catch (err) {
      // Another publisher took this number: take the next one.
      if ((err as { code?: unknown }).code !== 11000 || attempt >= MAX_ATTEMPTS) throw err;
    }
  }
}

/** The number of the newest event; 0 when there is none. */
export async function lastSequenceNumber(): Promise<number> {
  const newest = await LiveEvent.findOne({}, { _id: 1 }).sort({ _id: -1 }).lean();
  return newest ? sequenceNumber(newest._id) : 0;
}

function prune(upTo: number): void {
  LiveEvent.deleteMany({ _id: { $lte: sequenceKey(upTo) } }).catch((err: unknown) => {
    childLogger({ component: 'live' }).warn({ err }, 'could not delete old live events (retried at the next prune)');
  });
}
