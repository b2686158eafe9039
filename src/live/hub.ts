// The in-process PubSub the subscriptions read (type-graphql's `pubSub`): fans each published item out to
// the local subscribers of its topic. A subscriber's dynamic id (type-graphql's `topicId`) is its audience,
// a predicate applied at publish time, so nothing it may not see is ever queued for it.
//
// Publishing never waits for a subscriber: each has its own bounded queue, and one that lets it fill up
// (a stalled or dead client) is dropped with an error rather than holding events in memory or holding up
// the others.

export type Audience<T> = (item: T) => boolean;

export interface HubOptions {
  /** Undelivered items a subscriber may have before it is dropped. */
  maxQueued?: number;
  /** The error a dropped subscriber's iterator ends with. */
  overflowError?: () => Error;
}

export class Hub<T> {
  readonly #topics = new Map<string, Set<Subscriber<T>>>();

  constructor(private readonly options: HubOptions = {}) {}

  publish(topic: string, item: T): void {
    for (const subscriber of this.#topics.get(topic) ?? []) subscriber.offer(item);
  }

  subscribe(topic: string, audience?: unknown): AsyncIterableIterator<T> {
    if (audience !== undefined && typeof audience !== 'function') throw new TypeError('a hub audience is a predicate');
    let subscribers = this.#topics.get(topic);
    if (!subscribers) this.#topics.set(topic, (subscribers = new Set()));
    const subscriber: Subscriber<T> = new Subscriber<T>(
      (audience as Audience<T> | undefined) ?? (() => true),
      this.options,
      () => {
        subscribers.delete(subscriber);
        if (!subscribers.size) this.#topics.delete(topic);
      },
    );
    subscribers.add(subscriber);
    return subscriber;
  }

  subscriberCount(topic: string): number {
    return this.#topics.get(topic)?.size ?? 0;
  }
}

const DEFAULT_MAX_QUEUED = 256;

class Subscriber<T> implements AsyncIterableIterator<T> {
  readonly #queue: T[] = [];
  #waiting: ((result: IteratorResult<T>) => void) | undefined;
  #ended = false;
  #error: Error | undefined;

  constructor(
    private readonly audience: Audience<T>,
    private readonly options: HubOptions,
    private readonly detach: () => void,
  ) {}

  offer(item: T): void {
    if (this.#ended || !this.audience(item)) return;
    if (this.#waiting) {
      const resolve = this.#waiting;
      this.#waiting = undefined;
      resolve({ value: item, done: false });
    } else if (this.#queue.length < (this.options.maxQueued ?? DEFAULT_MAX_QUEUED)) {
      this.#queue.push(item);
    } else {
      this.#error = this.options.overflowError?.() ?? new Error('subscriber fell behind and was dropped');
      this.#end();
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#queue.length) return Promise.resolve({ value: this.#queue.shift()!, done: false });
    if (this.#error) {
      const err = this.#error;
      this.#error = undefined; // reported once; afterwards the iterator is simply done
      return Promise.reject(err);
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.#end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#queue.length = 0;
    this.detach();
    const resolve = this.#waiting;
    this.#waiting = undefined;
    resolve?.({ value: undefined, done: true });
  }
}
