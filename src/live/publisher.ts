// Publishing a status change to every API server: store it under the next sequence number; each server's
// feed (feed.ts) reads it from there. Runs in whichever process made the change.
//
// The number is taken by inserting it: `_id` is unique, so of the publishers that try the same number
// exactly one succeeds, and the others try the next one. A number is only tried once the one before it
// exists, so numbers become visible in order and without gaps: a feed that has read n only needs n + 1.
// (A counter document incremented with $inc would be simpler, but FerretDB 1.24 on SQLite does not apply
// concurrent updates atomically: 400 concurrent `$inc`s left the counter at 17.)
//
// Within a process, publishing is a group commit: at most one insert in flight, carrying every change published
// since the one before, numbered consecutively (an ordered insert: on a duplicate it stops there, so what it
// stored is still gap-free). Concurrent publishers of one process therefore never race each other for a number
// (measured under 32 concurrent `createReservation`s on FerretDB: 12 inserts and 13 scans per event before).
// And the newest number is remembered: "n exists" is checked with a point lookup, the one query FerretDB 1.24
// answers without reading the whole collection, instead of looking for the newest with a sort that does.
import { EventEmitter } from 'node:events';
import { Types } from 'mongoose';
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
/** Changes stored by one insert at most. */
const MAX_GROUP = 100;

/** Every process that changes statuses (API servers, workers) installs this at start-up. */
export function installLivePublisher(): void {
  configureEffects({ publish: publishStatusChange });
}

type EventFields = ReturnType<typeof eventFields>;

interface Pending {
  fields: EventFields;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const queue: Pending[] = [];
let flushing = false;
/** The newest number this process stored or read: the next insert's starting point, once checked. */
let newestKnown: number | undefined;
/** Tells this process's feed that there is something to read (feed.ts), so it need not wait for its next poll. */
const published = new EventEmitter();
published.setMaxListeners(0);

/** Resolves once the change is stored (and so will reach every API server's subscribers). */
export function publishStatusChange(change: StatusChange): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // A malformed change fails alone (the executor throws), not the group it would have been stored with.
    queue.push({ fields: eventFields(change), resolve, reject });
    if (!flushing) void flush();
  });
}

/** Calls `listener` after each insert this process makes; returns the function that stops it. */
export function onLocalPublish(listener: () => void): () => void {
  published.on('stored', listener);
  return () => published.off('stored', listener);
}

async function flush(): Promise<void> {
  flushing = true;
  try {
    while (queue.length > 0) {
      const group = queue.splice(0, MAX_GROUP);
      try {
        await store(group.map((p) => p.fields));
        for (const p of group) p.resolve();
      } catch (err) {
        for (const p of group) p.reject(err);
      }
    }
  } finally {
    flushing = false;
  }
}

/** Stores the events under the next consecutive numbers, in their order. */
async function store(events: EventFields[]): Promise<void> {
  let rest = events;
  for (let attempt = 1; ; attempt++) {
    const base = await newestNumber();
    const docs = rest.map((fields, i) => ({ _id: sequenceKey(base + 1 + i), ...fields }));
    try {
      await LiveEvent.collection.insertMany(docs, { ordered: true });
      stored(base, base + docs.length);
      return;
    } catch (err) {
      // Another publisher took a number: what came before it was stored; the rest goes after the newest.
      if (!isDuplicateKey(err) || attempt >= MAX_ATTEMPTS) throw err;
      const storedCount = firstFailedIndex(err);
      if (storedCount > 0) stored(base, base + storedCount);
      rest = rest.slice(storedCount);
      newestKnown = undefined;
    }
  }
}

function stored(base: number, last: number): void {
  newestKnown = last;
  if (Math.floor(last / PRUNE_EVERY) > Math.floor(base / PRUNE_EVERY) && last > RETAINED_EVENTS) prune(last - RETAINED_EVENTS);
  published.emit('stored');
}

/** The number to continue from: the remembered newest if it is still there (numbers have no gaps), else a search. */
async function newestNumber(): Promise<number> {
  if (newestKnown !== undefined && (await LiveEvent.exists({ _id: sequenceKey(newestKnown) }))) return newestKnown;
  newestKnown = await lastSequenceNumber();
  return newestKnown;
}

/** The stored event, but its number (live-event.model.ts). */
function eventFields(change: StatusChange) {
  const { _id: eventId, from, to, at, actor, reason } = change.event;
  return {
    eventId: new Types.ObjectId(eventId),
    reservationId: new Types.ObjectId(change.reservationId),
    customerId: new Types.ObjectId(change.customerId),
    event: { from: from ?? null, to, at, actor, ...(reason ? { reason } : {}) },
  };
}

function isDuplicateKey(err: unknown): boolean {
  const e = err as { code?: unknown; writeErrors?: { code?: unknown }[] | { code?: unknown } };
  const first = Array.isArray(e.writeErrors) ? e.writeErrors[0] : e.writeErrors;
  return e.code === 11000 || first?.code === 11000;
}

/** How many documents of an ordered insert were stored before the one that failed. */
function firstFailedIndex(err: unknown): number {
  const e = err as { writeErrors?: { index?: number }[] | { index?: number }; insertedCount?: number };
  const first = Array.isArray(e.writeErrors) ? e.writeErrors[0] : e.writeErrors;
  return first?.index ?? e.insertedCount ?? 0;
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
