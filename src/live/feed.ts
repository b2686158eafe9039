// The one reader per API server: asks the liveEvents collection for the event numbered one after the last it
// read, as long as there is one, then waits a poll interval. Each event goes to `onChange` in publication
// order, once per event id.
//
// A change published by this very process (a mutation on this API server) wakes the feed at once instead: its
// subscribers get it without waiting for the next poll. It is still read from the collection like any other, so
// order and deduplication are the same whoever published it.
//
// Polling, not a tailable cursor: on FerretDB 1.24 a tailable cursor over a capped collection skips
// documents whose concurrent inserts become visible out of order (measured: 8 writers × 500 inserts, 106
// never returned), and change streams do not exist there. A point lookup by `_id` is the cheapest query on
// both MongoDB and FerretDB, and works the same on a standalone server and a replica set.
import { setTimeout as sleep } from 'node:timers/promises';
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
}

export interface Feed {
  /** Settles once the feed knows where it starts: every event published after that reaches `onChange`. */
  started: Promise<void>;
  /** Stops reading. A read in flight ends on its own; waiting for it would hold up shutdown while the database is unreachable. */
  stop(): void;
}

/** Event ids remembered to drop repeats (an event dispatch-pending-effects published again after a crash). */
const REMEMBERED_EVENTS = 10_000;
/** How often a quiet feed checks for numbers it cannot reach one by one (see `resync`). */
const RESYNC_MS = 5000;
const MAX_BACKOFF_MS = 2000;

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
  const stopListening = opts.publisher.onStored(() => {
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
      last = n;
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
      return;
    }
    const next = await LiveEvent.findOne({ _id: { $gt: sequenceKey(from) } }, { _id: 1 }).sort({ _id: 1 }).lean();
    const oldest = next ? sequenceNumber(next._id) : from + 1;
    if (oldest > from + 1) {
      opts.log.warn({ from: from + 1, to: oldest - 1 }, 'live events were deleted before this server read them');
      last = oldest - 1;
    }
  }

  void (async () => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      published = false;
      try {
        if (last === undefined) {
          last = await lastSequenceNumber();
          markStarted();
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
