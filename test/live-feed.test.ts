// The channel between processes, read directly: what publishers store, one feed receives — all of it, in
// order, once — on the run's real database (FerretDB here, where tailable cursors lose concurrent inserts).
import mongoose, { Types } from 'mongoose';
import pino from 'pino';
import { connectDatabase, disconnectDatabase } from '../src/db/connect.js';
import { startFeed, type Feed } from '../src/live/feed.js';
import { LiveEvent, type LiveEventRecord } from '../src/live/live-event.model.js';
import { LivePublisher } from '../src/live/publisher.js';
import { newStatusEvent } from '../src/models/status-event.js';
import { ReservationStatus } from '../src/models/status.js';
import type { LiveUpdate } from '../src/status/effects.js';
import { freshDatabaseUri } from './support/stack.js';

const log = pino({ level: 'silent' });
let feed: Feed | undefined;
const received: LiveUpdate[] = [];
/** Four processes' publishers, and the one whose process the feed runs in. */
const publishers = Array.from({ length: 4 }, () => new LivePublisher(log));
const publishStatusChange = (c: LiveUpdate, publisher = publishers[0]!) => publisher.publish(c);

beforeAll(async () => {
  await connectDatabase(freshDatabaseUri('livefeed'));
});

/** Polling (FerretDB's way) or tailing the capped collection (MongoDB's way; it works on FerretDB too, at a cost). */
let tail = false;

beforeEach(async () => {
  received.length = 0;
  feed = startFeed({ log, publisher: publishers[0]!, onChange: (change) => received.push(change), tail });
  await feed.started;
});

afterEach(() => feed?.stop());
afterAll(() => disconnectDatabase());

function change(): LiveUpdate {
  const event = newStatusEvent(null, ReservationStatus.PENDING, `customer:${new Types.ObjectId().toHexString()}`);
  return { reservationId: new Types.ObjectId().toHexString(), customerId: new Types.ObjectId().toHexString(), event };
}

async function receivedAll(eventIds: string[], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const ids = () => new Set(received.map((c) => c.event._id.toHexString()));
  while (!eventIds.every((id) => ids().has(id))) {
    if (Date.now() > deadline) throw new Error(`received ${ids().size} of ${eventIds.length} events`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.each([
  ['polling', false],
  ['tailing', true],
])('%s', (_, tailing) => {
  beforeAll(async () => {
    tail = tailing;
    // Each way from an empty channel: what the other left is not this one's to receive.
    await LiveEvent.collection.drop().catch(() => {});
    await LiveEvent.createCollection();
  });

  test('concurrent publishers: the feed receives every event once, in publication order, repeats dropped', async () => {
    const changes = Array.from({ length: 4 }, () => Array.from({ length: 25 }, change));
    await Promise.all(changes.map(async (mine, i) => {
      for (const c of mine) await publishStatusChange(c, publishers[i]);
    }));
    await publishStatusChange(changes[0]![0]!); // dispatch-pending-effects re-publishing after a crash
    const ids = changes.flat().map((c) => c.event._id.toHexString());
    await receivedAll(ids);

    const stored = await LiveEvent.find().sort({ _id: 1 }).lean<LiveEventRecord[]>();
    expect(stored).toHaveLength(101);
    const firstTimes = stored.map((d) => d.event._id.toHexString()).filter((id, i, all) => all.indexOf(id) === i);
    expect(received.map((c) => c.event._id.toHexString())).toEqual(firstTimes);
    const sample = changes[0]![0]!;
    expect(received.find((c) => c.event._id.equals(sample.event._id))).toEqual({
      reservationId: sample.reservationId,
      customerId: sample.customerId,
      event: { ...sample.event },
    });
  });

  test("its own process's events reach it as they are stored, in order, without being read back", async () => {
    // A feed that would not poll again within the test: whatever it delivers, it did not find by polling.
    feed!.stop();
    feed = startFeed({ log, publisher: publishers[0]!, onChange: (change) => received.push(change), tail, pollIntervalMs: 60_000 });
    await feed.started;
    await new Promise((resolve) => setTimeout(resolve, 200)); // its first look for n + 1, before anything is published
    // Mongoose's debug hook observes the lookups sent (nothing is replaced).
    const lookedUp: string[] = [];
    mongoose.set('debug', (collection: string, method: string, filter: unknown) => {
      const id = (filter as { _id?: unknown } | undefined)?._id;
      if (collection === 'liveEvents' && method.startsWith('find') && id instanceof Types.ObjectId) lookedUp.push(id.toHexString());
    });
    try {
      const mine = Array.from({ length: 5 }, change);
      for (const c of mine) await publishStatusChange(c);
      await receivedAll(mine.map((c) => c.event._id.toHexString()), 2000);
      expect(received.map((c) => c.event._id.toHexString())).toEqual(mine.map((c) => c.event._id.toHexString()));
      const storedKeys = (await LiveEvent.find({ 'event._id': { $in: mine.map((c) => c.event._id) } }, { _id: 1 }).sort({ _id: 1 }).lean()).map((d) =>
        d._id.toHexString(),
      );
      expect(storedKeys).toHaveLength(5);
      // Only the publisher's check that the newest number it remembers still exists (before each next insert: the
      // first four); the feed looked up none of them.
      expect(lookedUp.filter((key) => storedKeys.includes(key))).toEqual(storedKeys.slice(0, 4));
    } finally {
      mongoose.set('debug', false);
    }
  });

  test('when the numbering starts over (the collection dropped), the feed follows it', async () => {
    const before = change();
    await publishStatusChange(before);
    await receivedAll([before.event._id.toHexString()]);

    await LiveEvent.collection.drop();
    const after = change();
    await publishStatusChange(after);
    await receivedAll([after.event._id.toHexString()]);
  }, 20_000);
});
