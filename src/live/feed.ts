// The one reader per API server: follows the liveEvents collection and hands each event to `onChange` in
// publication order (the events' sequence numbers, publisher.ts), once per event id.
//
// Tailing, not polling: the collection is capped, and the feed keeps a tailable `awaitData` cursor open on it,
// so an idle API server sends one `getMore` per AWAIT_MS instead of a query per poll interval, and an event
// reaches it as soon as the server has it (MongoDB wakes the cursor at the insert; FerretDB 1.24 checks every
// 10 ms inside the getMore, on its side). Order and completeness still come from the numbers, not from the
// cursor: an event is delivered only after the one numbered before it, and a number the cursor has not brought
// is read by a point lookup by `_id` (the cheapest query on both servers). A tailable cursor on FerretDB 1.24 can
// return concurrent inserts out of order or skip one (measured: 8 unnumbered writers × 500 inserts, 106 never
// returned); numbered events are inserted one after another (a number is taken only once the one before it is
// stored), so that race does not arise for them, and the lookups cover it if it did. Every few quiet seconds the
// feed also looks for n + 1 directly, and checks for numbering that started over or events deleted unread.
//
// Where the collection cannot be tailed (not capped: created before this version, or re-created by an insert
// after a drop; or still empty, where a tailable cursor dies at once on MongoDB and cannot resume on FerretDB),
// the feed polls n + 1 every poll interval as before, and tries the tail again every few seconds. A change
// published by this very process then wakes it at once.
//
// Tailing is for servers whose awaitData cursors wait at no cost (`tail`, from DatabaseCapabilities): MongoDB.
// FerretDB 1.24 re-runs a tailing cursor's query every 10 ms on its side, which costs it far more than the
// polling here (src/db/connect.ts has the figures), so on FerretDB the feed polls.
import { setTimeout as sleep } from 'node:timers/promises';
import { mongo } from 'mongoose';
import type { Logger } from 'pino';
import type { LiveUpdate } from '../status/effects.js';
import { LiveEvent, lastSequenceNumber, sequenceKey, sequenceNumber, type LiveEventRecord } from './live-event.model.js';
import type { LivePublisher } from './publisher.js';

export interface FeedOptions {
  onChange: (change: LiveUpdate) => void;
  /** This process's publisher: its inserts wake the feed. */
  publisher: Pick<LivePublisher, 'onStored'>;
  log: Logger;
  /** Pause after reading everything there was: most of the delivery delay of other processes' changes. */
  pollIntervalMs?: number;
  /**
   * Tail the collection (where the server's awaitData cursors wait at no cost: DatabaseCapabilities.tailableCursors)
   * rather than poll it. Default: poll.
   */
  tail?: boolean;
}

export interface Feed {
  /** Settles once the feed knows where it starts: every event published after that reaches `onChange`. */
  started: Promise<void>;
  /** Stops reading. A read in flight ends on its own; waiting for it would hold up shutdown while the database is unreachable. */
  stop(): void;
}

/** Event ids remembered to drop repeats (an event dispatch-pending-effects published again after a crash). */
const REMEMBERED_EVENTS = 10_000;
/** How often a quiet feed checks for numbers it cannot reach one by one (see `resync`), and retries the tail. */
const RESYNC_MS = 5000;
const MAX_BACKOFF_MS = 2000;
/** How long one getMore of the tail waits for an event: an idle feed's command rate is its inverse. */
const AWAIT_MS = 2000;
/** Events one getMore of the tail brings at most. */
const TAIL_BATCH = 250;
/** A cursor id as getMore takes it: the driver hands small ids over as numbers. */
const asLong = (id: unknown) => (typeof id === 'number' ? mongo.Long.fromNumber(id) : id);
const isZero = (id: unknown) => id === 0 || (typeof id === 'object' && id !== null && 'isZero' in id && (id as { isZero(): boolean }).isZero());

export function startFeed(opts: FeedOptions): Feed {
  const pollIntervalMs = opts.pollIntervalMs ?? 100;
  const stopping = new AbortController();
  /** The number of the last event read; a new feed starts after the events published before it. */
  let last: number | undefined;
  let lastResync = Date.now();
  const delivered = new Set<string>();
  /** Set when this process published something since the last read began; `wake` ends the pause early. */
  let published = false;
  let wake: (() => void) | undefined;
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  // This process's own events, as it stores them: delivered at once, without reading them back, when they are the
  // very next numbers (the usual case on an API server that makes the changes its subscribers watch). Otherwise
  // someone else's events come first: the feed wakes and reads them all in order.
  const stopListening = opts.publisher.onStored((stored) => {
    // (Some may have been read already: a read in flight when they were stored. Those are not delivered twice.)
    if (last !== undefined && stored.length > 0 && sequenceNumber(stored[0]!._id) <= last + 1) {
      const from = last;
      last = Math.max(last, sequenceNumber(stored[stored.length - 1]!._id));
      try {
        for (const doc of stored) if (sequenceNumber(doc._id) > from) deliver(doc);
      } catch (err) {
        // Never the publisher's failure: its events are stored. (Delivery is the hub's; it does not throw.)
        opts.log.warn({ err }, 'could not deliver a live event to this server\'s subscribers');
      }
      return;
    }
    published = true;
    wake?.();
  });

  function deliver(doc: LiveEventRecord): void {
    const eventId = doc.event._id.toHexString();
    if (delivered.has(eventId)) return;
    delivered.add(eventId);
    if (delivered.size > REMEMBERED_EVENTS) delivered.delete(delivered.values().next().value!);
    opts.onChange({ reservationId: doc.reservationId.toString(), customerId: doc.customerId.toString(), event: doc.event });
  }

  /** Reads the events after `from` one by one for as long as there is a next one; whether there was any. */
  async function readNew(from: number): Promise<boolean> {
    for (let n = from + 1; !stopping.signal.aborted; n++) {
      const doc = await LiveEvent.findById(sequenceKey(n)).lean<LiveEventRecord>();
      if (!doc) return n > from + 1;
      // Never backwards: this process's own events may have been delivered (and `last` moved past n) meanwhile.
      last = Math.max(last ?? n, n);
      deliver(doc);
    }
    return true;
  }

  // Numbers that n + 1 lookups never reach: events deleted before this feed read them (it fell more than the
  // retention behind), or numbering that started over (the collection was dropped). Both need a scan, so a
  // quiet feed checks every few seconds rather than on every poll.
  async function resync(from: number): Promise<void> {
    const newest = await lastSequenceNumber();
    if (newest === from) return;
    if (newest < from) {
      opts.log.warn({ was: from, now: newest }, 'live event numbering started over; following it');
      last = 0; // everything numbered since is new to this feed
      // Dropped: made again capped, so it can be tailed (an insert may have re-created it plain first: then polled).
      await LiveEvent.createCollection().catch(() => {});
      return;
    }
    const next = await LiveEvent.findOne({ _id: { $gt: sequenceKey(from) } }, { _id: 1 }).sort({ _id: 1 }).lean();
    const oldest = next ? sequenceNumber(next._id) : from + 1;
    if (oldest > from + 1) {
      opts.log.warn({ from: from + 1, to: oldest - 1 }, 'live events were deleted before this server read them');
      last = oldest - 1;
    }
  }

  /** Events the tail brought ahead of a number it did not bring, by number, until that one is read. */
  const ahead = new Map<number, LiveEventRecord>();

  /** Delivers what follows `last` without a gap from what the tail brought; reads a missing number by lookup. */
  async function advance(): Promise<void> {
    while (ahead.size > 0 && !stopping.signal.aborted) {
      for (const n of [...ahead.keys()]) if (n <= last!) ahead.delete(n);
      const next = ahead.get(last! + 1);
      if (next) {
        ahead.delete(last! + 1);
        last! += 1;
        deliver(next);
        continue;
      }
      if (ahead.size === 0) return;
      // A higher number came first: read the ones before it (published, so stored) one by one.
      if (!(await readNew(last!))) {
        await resync(last!); // deleted before this feed read them
        if (![...ahead.keys()].some((n) => n > last!)) return;
        if (!ahead.has(last! + 1)) last = Math.min(...[...ahead.keys()].filter((n) => n > last!)) - 1;
      }
    }
  }

  /**
   * Follows the collection with a tailable awaitData cursor until it ends (the collection is dropped, the cursor's
   * position was deleted under it, the feed stops). False when the collection could not be tailed: the cursor
   * failed or died before its first answer (not capped, empty, gone).
   */
  async function tail(): Promise<boolean> {
    // A tailable cursor needs something to start after: on MongoDB one over an empty result is dead at once.
    if (!(await LiveEvent.exists({}))) return false;
    const db = LiveEvent.db.db!;
    const collection = LiveEvent.collection.collectionName;
    // The cursor's commands by hand rather than through the driver's cursor: FerretDB 1.24 closes a tailable
    // cursor whose first batch is smaller than the batch size asked for, so the find asks for one document (there
    // is one) and the getMores for full batches, which the driver's cursor cannot vary. One session for all: MongoDB
    // refuses a getMore from another session than the find's.
    const session = LiveEvent.db.getClient().startSession();
    let cursorId: unknown;
    const close = () => {
      const id = cursorId;
      cursorId = undefined;
      void (async () => {
        if (id !== undefined && !isZero(id)) await db.command({ killCursors: collection, cursors: [id] }, { session }).catch(() => {});
        await session.endSession().catch(() => {});
      })();
    };
    stopping.signal.addEventListener('abort', close, { once: true });
    let quiet = 0;
    try {
      let batch: LiveEventRecord[];
      try {
        const first = await db.command({ find: collection, filter: {}, tailable: true, awaitData: true, batchSize: 1 }, { session });
        cursorId = asLong(first.cursor.id);
        batch = first.cursor.firstBatch;
      } catch (err) {
        if (stopping.signal.aborted) return true;
        opts.log.debug({ err }, 'live events cannot be tailed; polling');
        return false;
      }
      if (isZero(cursorId)) return false;
      while (!stopping.signal.aborted) {
        for (const doc of batch) {
          const n = sequenceNumber(doc._id);
          if (n > last!) ahead.set(n, doc);
        }
        if (ahead.size) await advance();
        if (batch.length) quiet = 0;
        // A quiet period: now and then, what the cursor cannot show.
        else if (++quiet % Math.ceil(RESYNC_MS / AWAIT_MS) === 0) {
          lastResync = Date.now();
          if (!(await readNew(last!))) await resync(last!);
        }
        if (cursorId === undefined || isZero(cursorId) || stopping.signal.aborted) break; // dead: opened again by the caller
        const more = await db.command({ getMore: cursorId, collection, maxTimeMS: AWAIT_MS, batchSize: TAIL_BATCH }, { session });
        cursorId = asLong(more.cursor.id);
        batch = more.cursor.nextBatch;
      }
      return true;
    } finally {
      stopping.signal.removeEventListener('abort', close);
      close();
      ahead.clear();
    }
  }

  void (async () => {
    let failures = 0;
    /** When the tail was last tried and could not be opened; polling meanwhile. */
    let tailRefusedAt: number | undefined;
    while (!stopping.signal.aborted) {
      published = false;
      try {
        if (last === undefined) {
          last = await lastSequenceNumber();
          markStarted();
        }
        if (opts.tail && (tailRefusedAt === undefined || Date.now() - tailRefusedAt >= RESYNC_MS)) {
          // Failing, the feed polls until its next try: the tail's trouble (a server that refuses it) holds up nothing.
          tailRefusedAt = Date.now();
          if (await tail()) {
            // It ended (the collection dropped, its position deleted): a moment, then open it again.
            tailRefusedAt = undefined;
            failures = 0;
            await pause(pollIntervalMs);
            continue;
          }
        }
        if (!(await readNew(last)) && Date.now() - lastResync >= RESYNC_MS) {
          lastResync = Date.now();
          await resync(last);
        }
        if (failures) opts.log.info({ failedReads: failures }, 'live feed resumed');
        failures = 0;
      } catch (err) {
        if (stopping.signal.aborted) break;
        // One line per outage, not one per attempt.
        if (failures++ === 0) opts.log.warn({ err }, 'live feed cannot read events; retrying');
      }
      if (failures) {
        await sleep(Math.min(MAX_BACKOFF_MS, pollIntervalMs * 2 ** failures), undefined, { signal: stopping.signal }).catch(() => {});
      } else if (!published) {
        await pause(pollIntervalMs);
      }
    }
  })();

  /** Waits `ms`, or less if this process publishes meanwhile or the feed stops. */
  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stopping.signal.removeEventListener('abort', done);
        wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      stopping.signal.addEventListener('abort', done, { once: true });
      wake = done;
    });
  }

  return {
    started,
    stop: () => {
      stopListening();
      stopping.abort();
      markStarted(); // nobody waits for a feed that will never start
    },
  };
}
