// The in-process fan-out behind subscriptions: a stalled subscriber costs bounded memory and nobody else's time.
import { setImmediate as tick } from 'node:timers/promises';
import { Hub } from '../src/live/hub.js';

async function collect<T>(iterator: AsyncIterableIterator<T>, into: T[]): Promise<unknown> {
  try {
    for await (const item of iterator) into.push(item);
    return undefined;
  } catch (err) {
    return err;
  }
}

test('a subscriber that stops reading is dropped when its queue is full; the others receive every event', async () => {
  const hub = new Hub<number>({ maxQueued: 3, overflowError: () => new Error('fell behind') });
  const stalled = hub.subscribe('changes');
  const reader = hub.subscribe('changes');
  const received: number[] = [];
  const reading = collect(reader, received);

  for (let i = 1; i <= 10; i++) {
    hub.publish('changes', i);
    await tick(); // the reading subscriber's turn
  }

  expect(received).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  expect(hub.subscriberCount('changes')).toBe(1);
  await expect(stalled.next()).rejects.toThrow('fell behind');
  await expect(stalled.next()).resolves.toEqual({ value: undefined, done: true });
  hub.publish('changes', 11);
  await tick();
  expect(received.at(-1)).toBe(11);
  await reader.return!();
  await expect(reading).resolves.toBeUndefined();
});

test('a subscriber receives what its audience accepts, on its topic only, until it unsubscribes', async () => {
  const hub = new Hub<number>();
  const evens = hub.subscribe('changes', (n: number) => n % 2 === 0);
  const received: number[] = [];
  const done = collect(evens, received);

  hub.publish('changes', 1);
  hub.publish('changes', 2);
  hub.publish('other', 4);
  await tick();
  expect(received).toEqual([2]);

  await evens.return!();
  await expect(done).resolves.toBeUndefined();
  expect(hub.subscriberCount('changes')).toBe(0);
  hub.publish('changes', 6);
  expect(received).toEqual([2]);
});
