// Live-update tests against API processes: graphql-ws clients (real WebSocket connections, made as a browser
// app makes them), and the status changes that feed them.
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { gqlData } from './graphql.js';
import { inOneHour } from './stack.js';

export const STATUS_CHANGED = `subscription($id: ID) {
  reservationStatusChanged(reservationId: $id) {
    reservation { id reference status cancellationReason customer { id email } history { id from to } }
    event { id from to at actor reason }
  }
}`;

/** A `reservationStatusChanged` result as STATUS_CHANGED selects it. */
export interface Change {
  reservationStatusChanged: {
    reservation: { id: string; status: string; customer: { id: string; email: string }; history: { id: string; to: string }[] };
    event: { id: string; from: string | null; to: string; at: string; actor: string; reason: string | null };
  };
}

export interface Closed {
  code: number;
  reason: string;
}

export interface LiveSubscription<T> {
  /** The `data` of every result received, in order. */
  readonly results: T[];
  /** Errors the server sent for this subscription (it ends after one). */
  readonly errors: unknown[];
  /** Resolves with `results` once `done(results)` holds; rejects after `timeoutMs`. */
  waitFor(done: (results: T[]) => boolean, what: string, timeoutMs?: number): Promise<T[]>;
  unsubscribe(): void;
}

export interface LiveConnection {
  client: Client;
  /** Resolves once the server acknowledged the connection; rejects with the close if it refused it. */
  accepted: Promise<void>;
  /** How the socket closed, once it has. */
  closed: Promise<Closed>;
  subscribe<T = any>(query: string, variables?: Record<string, unknown>): LiveSubscription<T>;
  dispose(): Promise<void>;
}

/** Opens a graphql-ws connection to the API at `httpUrl`, with `token` in the connection params if given. */
export function connectLive(httpUrl: string, token?: string): LiveConnection {
  let accept!: () => void;
  let refuse!: (closed: Closed) => void;
  const accepted = new Promise<void>((resolve, reject) => {
    accept = resolve;
    refuse = reject;
  });
  accepted.catch(() => {}); // a test that expects a refusal awaits `closed` instead
  let onClosed!: (closed: Closed) => void;
  const closed = new Promise<Closed>((resolve) => (onClosed = resolve));

  const client = createClient({
    url: httpUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => {}, // reported through `closed`
    on: {
      connected: () => accept(),
      closed: (event) => {
        const { code, reason } = event as Closed;
        onClosed({ code, reason });
        refuse({ code, reason });
      },
    },
  });

  return {
    client,
    accepted,
    closed,
    subscribe<T>(query: string, variables?: Record<string, unknown>): LiveSubscription<T> {
      const results: T[] = [];
      const errors: unknown[] = [];
      const waiters = new Set<() => void>();
      const recheck = () => {
        for (const check of [...waiters]) check();
      };
      const unsubscribe = client.subscribe<T>(
        { query, variables },
        {
          next: (result) => {
            if (result.errors) errors.push(...result.errors);
            if (result.data) results.push(result.data);
            recheck();
          },
          // The operation's GraphQL errors, or the socket's close event.
          error: (err) => {
            errors.push(...(Array.isArray(err) ? err : [err]));
            recheck();
          },
          complete: () => {},
        },
      );
      return {
        results,
        errors,
        unsubscribe,
        waitFor(done, what, timeoutMs = 5000) {
          if (done(results)) return Promise.resolve(results);
          return new Promise((resolve, reject) => {
            const check = () => {
              if (!done(results)) return;
              waiters.delete(check);
              clearTimeout(timer);
              resolve(results);
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify({ results, errors })}`));
            }, timeoutMs);
            waiters.add(check);
          });
        },
      };
    },
    dispose: () => Promise.resolve(client.dispose()),
  };
}

/** The results about event `eventId`. */
export function resultsForEvent(results: Change[], eventId: string): Change[] {
  return results.filter((r) => r.reservationStatusChanged.event.id === eventId);
}

export const hasEvent = (eventId: string) => (results: Change[]) => resultsForEvent(results, eventId).length > 0;

export const CONFIRM = `mutation($id: ID!) { confirmReservation(id: $id) { id history { id } } }`;
export const CANCEL = `mutation($id: ID!) { cancelReservation(id: $id) { id history { id } } }`;
const CREATE = `mutation($input: CreateReservationInput!) { createReservation(input: $input) { id history { id } } }`;

/** Runs a status mutation; returns the reservation and the id of the event it recorded (the newest). */
export async function changeStatus(url: string, mutation: string, variables: Record<string, unknown>, token: string) {
  const data = await gqlData(url, mutation, variables, token);
  const result = Object.values(data)[0] as { id: string; history: { id: string }[] };
  return { reservationId: result.id, eventId: result.history.at(-1)!.id };
}

export const createReservation = (url: string, token: string, startTime = inOneHour()) =>
  changeStatus(url, CREATE, { input: { startTime } }, token);

/**
 * Subscribing is asynchronous and unacknowledged in graphql-ws: makes changes (reservations created with
 * `token`) until every subscription has received one, so none can miss the changes a test makes next.
 * Returns how many reservations it created.
 */
export async function untilSubscribed(subs: LiveSubscription<Change>[], url: string, token: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const { eventId } = await createReservation(url, token);
    try {
      await Promise.all(subs.map((s) => s.waitFor(hasEvent(eventId), 'a first change', 1000)));
      return attempt;
    } catch (err) {
      if (attempt === 10) throw err;
    }
  }
}

