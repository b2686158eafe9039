// An API server's end of the live channel: it publishes its own status changes like every process does, and
// runs the one feed that brings every process's changes to this process's subscribers.
import type { Logger } from 'pino';
import type { StatusChange } from '../models/effects.js';
import { Reservation, type ReservationDocument } from '../models/reservation.js';
import { User, type UserDocument } from '../models/user.js';
import { childLogger } from '../logger.js';
import { ErrorCode, appError } from '../schema/errors.js';
import { startFeed } from './feed.js';
import { Hub } from './hub.js';
import { installLivePublisher } from './publisher.js';

export interface LiveChange extends StatusChange {
  /** The reservation and its customer as stored now; loaded on first use, once for all local subscribers. */
  current(): Promise<{ reservation: ReservationDocument | null; customer: UserDocument | null }>;
}

/** The topic every status change is published on. */
export const STATUS_CHANGED = 'reservationStatusChanged';

/** This process's PubSub: what its subscriptions read. */
export const liveChanges = new Hub<LiveChange>({
  overflowError: () =>
    appError(ErrorCode.SERVICE_UNAVAILABLE, 'This subscription fell too far behind and was ended; subscribe again'),
});

export interface LiveChannel {
  /** Settles once every change published from now on will reach this process's subscribers. */
  started: Promise<void>;
  stop(): void;
}

/** API servers: publish this process's changes and feed every process's changes to local subscribers. */
export function startLiveChannel(log: Logger = childLogger({ component: 'live' })): LiveChannel {
  installLivePublisher();
  const feed = startFeed({ log, onChange: (change) => liveChanges.publish(STATUS_CHANGED, withCurrentState(change)) });
  return { started: feed.started, stop: () => feed.stop() };
}

function withCurrentState(change: StatusChange): LiveChange {
  let loading: ReturnType<LiveChange['current']> | undefined;
  return {
    ...change,
    current: () =>
      (loading ??= Promise.all([Reservation.findById(change.reservationId), User.findById(change.customerId)]).then(
        ([reservation, customer]) => ({ reservation, customer }),
      )),
  };
}
