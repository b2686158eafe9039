// The channel between processes, read directly: what publishers store, one feed receives — all of it, in
// order, once — on the run's real database (FerretDB here, where tailable cursors lose concurrent inserts).
import { Types } from 'mongoose';
import { parseConfig, setConfig } from '../src/config.js';
import { connectDatabase, disconnectDatabase } from '../src/db/connect.js';
import { startFeed, type Feed } from '../src/live/feed.js';
import { LiveEvent } from '../src/live/live-event.model.js';
import { publishStatusChange } from '../src/live/publisher.js';
import { childLogger } from '../src/logger.js';
import type { StatusChange } from '../src/models/effects.js';
import { newStatusEvent } from '../src/models/status-event.js';
import { ReservationStatus } from '../src/models/status.js';
import { baseEnv, freshDatabaseUri } from './support/stack.js';

let feed: Feed | undefined;
const received: StatusChange[] = [];

beforeAll(async () => {
  const uri = freshDatabaseUri('livefeed');
  setConfig(parseConfig(baseEnv(uri)));
  await connectDatabase(uri);
});

beforeEach(async () => {
  received.length = 0;
  feed = startFeed({ log: childLogger({ component: 'live' }), onChange: (change) => received.push(change) });
  await feed.started;
});

afterEach(() => feed?.stop());
afterAll(() => disconnectDatabase());

function change(): StatusChange {
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

test('concurrent publishers: the feed receives every event once, in publication order, repeats dropped', async () => {
  const changes = Array.from({ length: 4 }, () => Array.from({ length: 25 }, change));
  await Promise.all(changes.map(async (mine) => {
    for (const c of mine) await publishStatusChange(c);
  }));
  await publishStatusChange(changes[0]![0]!); // the outbox reconciler re-publishing after a crash
  const ids = changes.flat().map((c) => c.event._id.toHexString());
  await receivedAll(ids);

  const stored = await LiveEvent.find().sort({ _id: 1 }).lean();
  expect(stored).toHaveLength(101);
  const firstTimes = stored.map((d) => d.eventId.toHexString()).filter((id, i, all) => all.indexOf(id) === i);
  expect(received.map((c) => c.event._id.toHexString())).toEqual(firstTimes);
  const sample = changes[0]![0]!;
  expect(received.find((c) => c.event._id.equals(sample.event._id))).toEqual({
    reservationId: sample.reservationId,
    customerId: sample.customerId,
    event: { ...sample.event },
  });
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
