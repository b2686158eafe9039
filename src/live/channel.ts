// An API server's end of the live channel: the hub its subscriptions read, fed by the one feed that brings every
// process's changes (its own included) to this process.
import type { Logger } from 'pino';
import { Reservation, type ReservationDocument } from '../models/reservation.js';
import { User, type UserDocument } from '../models/user.js';
import { ErrorCode, appError } from '../schema/errors.js';
import type { LiveUpdate } from '../status/effects.js';
import { startFeed } from './feed.js';
import { Hub } from './hub.js';
import type { LivePublisher } from './publisher.js';

export interface LiveChange extends LiveUpdate {
  /** The reservation and its customer as stored now; loaded on first use, once for all local subscribers. */
  current(): Promise<{ reservation: ReservationDocument | null; customer: UserDocument | null }>;
}

/** The topic every status change is published on. */
export const STATUS_CHANGED = 'reservationStatusChanged';

/** This process's PubSub: what its subscriptions read (type-graphql's `pubSub`). */
export function createLiveHub(): Hub<LiveChange> {
  return new Hub<LiveChange>({
    overflowError: () =>
      appError(ErrorCode.SERVICE_UNAVAILABLE, 'This subscription fell too far behind and was ended; subscribe again'),
  });
}

export interface LiveChannel {
  hub: Hub<LiveChange>;
  /** Settles once every change published from now on will reach this process's subscribers. */
  started: Promise<void>;
  stop(): void;
}

/** API servers: feed every process's changes to this process's subscribers. */
export function startLiveChannel(opts: {
  publisher: LivePublisher;
  log: Logger;
  hub?: Hub<LiveChange>;
  /** Tail the events with an awaitData cursor (DatabaseCapabilities.tailableCursors); poll them otherwise. */
  tail?: boolean;
}): LiveChannel {
  const hub = opts.hub ?? createLiveHub();
  const feed = startFeed({
    log: opts.log,
    publisher: opts.publisher,
    tail: opts.tail ?? false,
    onChange: (change) => hub.publish(STATUS_CHANGED, withCurrentState(change)),
  });
  return { hub, started: feed.started, stop: () => feed.stop() };
}

function withCurrentState(change: LiveUpdate): LiveChange {
  let loading: ReturnType<LiveChange['current']> | undefined;
  return {
    ...change,
    current: () =>
      (loading ??= Promise.all([Reservation.findById(change.reservationId), User.findById(change.customerId)]).then(
        ([reservation, customer]) => ({ reservation, customer }),
      )),
  };
}
