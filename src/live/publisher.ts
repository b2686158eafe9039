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
import { setTimeout as sleep } from 'node:timers/promises';
import { Types } from 'mongoose';
import type { Logger } from 'pino';
import { insertInOrderUntilDuplicate } from '../db/writes.js';
import type { LiveUpdate } from '../status/effects.js';
import type { Publisher } from '../status/service.js';
import { LiveEvent, RETAINED_EVENTS, lastSequenceNumber, sequenceKey, type LiveEventRecord } from './live-event.model.js';

export { RETAINED_EVENTS } from './live-event.model.js';
/** The publisher of every PRUNE_EVERY-th event deletes what is past retention: cleanup scales with writes. */
const PRUNE_EVERY = 50;
/** Each failed attempt means another publisher succeeded; this many in a row means something else is wrong. */
const MAX_ATTEMPTS = 50;
/** The longest random pause between two tries. */
const MAX_BACKOFF_MS = 50;
/** Changes stored by one insert at most: a whole sweep batch (COMPLETION_BATCH_SIZE ≤ 1000) in one command. */
const MAX_GROUP = 1000;

type EventFields = ReturnType<typeof eventFields>;

interface Pending {
  fields: EventFields;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** One per process that changes statuses (API servers, workers): the status service publishes through it. */
export class LivePublisher implements Publisher {
  readonly #queue: Pending[] = [];
  #flushing = false;
  /** The newest number this process stored or read: the next insert's starting point, once checked. */
  #newestKnown: number | undefined;
  /** Tells this process's feed that there is something to read (feed.ts), so it need not wait for its next poll. */
  readonly #stored = new EventEmitter().setMaxListeners(0);
  /** Whether the live events collection is capped: asked once, at the first prune. */
  #capped: Promise<boolean> | undefined;

  constructor(private readonly log: Logger) {}

  /** Resolves once the change is stored (and so will reach every API server's subscribers). */
  publish(change: LiveUpdate): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // A malformed change fails alone (the executor throws), not the group it would have been stored with.
      this.#queue.push({ fields: eventFields(change), resolve, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  /** Calls `listener` after each insert this process makes, with what it stored (consecutive numbers, in order);
   *  returns the function that stops it. */
  onStored(listener: (stored: readonly LiveEventRecord[]) => void): () => void {
    this.#stored.on('stored', listener);
    return () => this.#stored.off('stored', listener);
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    // What else is published in this same turn joins the first group (a sweep batch hands over all its changes
    // at once): one insert for all of them rather than one for the first and one for the rest.
    await Promise.resolve();
    try {
      while (this.#queue.length > 0) {
        const group = this.#queue.splice(0, MAX_GROUP);
        try {
          await this.#store(group.map((p) => p.fields));
          for (const p of group) p.resolve();
        } catch (err) {
          for (const p of group) p.reject(err);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** Stores the events under the next consecutive numbers, in their order. */
  async #store(events: EventFields[]): Promise<void> {
    let rest = events;
    for (let attempt = 1; ; attempt++) {
      const base = await this.#newestNumber();
      const docs: LiveEventRecord[] = rest.map((fields, i) => ({ _id: sequenceKey(base + 1 + i), ...fields }));
      // Another publisher may have taken a number: what came before it was stored; the rest goes after the newest.
      const storedCount = await insertInOrderUntilDuplicate(LiveEvent.collection, docs);
      if (storedCount > 0) this.#storedUpTo(base, docs.slice(0, storedCount));
      if (storedCount === docs.length) return;
      if (attempt >= MAX_ATTEMPTS) throw new Error(`could not number a live event after ${MAX_ATTEMPTS} attempts`);
      rest = rest.slice(storedCount);
      this.#newestKnown = undefined;
      // Another process took the number. A random pause before the next try, growing with the tries: without it,
      // a publisher that has to look the newest number up again (a scan on FerretDB) kept losing to ones that
      // had not, until it gave up (seen with 4 publishers under a busy test run).
      await sleep(Math.random() * Math.min(2 ** attempt, MAX_BACKOFF_MS));
    }
  }

  #storedUpTo(base: number, stored: LiveEventRecord[]): void {
    const last = base + stored.length;
    this.#newestKnown = last;
    if (Math.floor(last / PRUNE_EVERY) > Math.floor(base / PRUNE_EVERY) && last > RETAINED_EVENTS) this.#prune(last - RETAINED_EVENTS);
    this.#stored.emit('stored', stored);
  }

  /** The number to continue from: the remembered newest if it is still there (numbers have no gaps), else a search. */
  async #newestNumber(): Promise<number> {
    if (this.#newestKnown !== undefined && (await LiveEvent.exists({ _id: sequenceKey(this.#newestKnown) }))) return this.#newestKnown;
    this.#newestKnown = await lastSequenceNumber();
    return this.#newestKnown;
  }

  /** Deletes what is past retention, unless the collection is capped (it then keeps its newest events itself). */
  #prune(upTo: number): void {
    (async () => {
      this.#capped ??= LiveEvent.collection.isCapped().catch(() => false);
      if (await this.#capped) return;
      await LiveEvent.deleteMany({ _id: { $lte: sequenceKey(upTo) } });
    })().catch((err: unknown) => {
      this.log.warn({ err }, 'could not delete old live events (retried at the next prune)');
    });
  }
}

/** The stored event, but its number (live-event.model.ts). */
function eventFields(change: LiveUpdate) {
  const { _id, from, to, at, actor, reason } = change.event;
  return {
    reservationId: new Types.ObjectId(change.reservationId),
    customerId: new Types.ObjectId(change.customerId),
    event: { _id: new Types.ObjectId(_id), from: from ?? null, to, at, actor, ...(reason ? { reason } : {}) },
  };
}
