import { Arg, Ctx, ID, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { STATUS_CHANGED, type LiveChange } from '../../live/channel.js';
import type { Audience } from '../../live/hub.js';
import { isAdmin, requireUser, type AuthUser } from '../auth.js';
import type { Context } from '../context.js';
import { parseId } from '../ids.js';
import { ReservationStatusChange } from './reservation.type.js';
import { eventView, reservationView } from './reservation.view.js';

/**
 * Who receives a change: its customer and admins; only the named reservation's when one is named; and nobody once
 * the connection's token has expired or the connection was revoked (its close follows at once, but a change
 * published in between must not slip through).
 */
function audience(user: AuthUser, reservationId: string | null | undefined, revoked?: AbortSignal): Audience<LiveChange> {
  const only = reservationId == null ? undefined : parseId(reservationId, 'reservationId').toHexString();
  const userId = user.id.toHexString();
  const admin = isAdmin(user);
  const { expiresAt } = user;
  return (change) =>
    !revoked?.aborted &&
    (expiresAt === undefined || Date.now() < expiresAt) &&
    (only === undefined || change.reservationId === only) &&
    (admin || change.customerId === userId);
}

@Resolver()
export class ReservationSubscriptionResolver {
  @Subscription(() => ReservationStatusChange, {
    description:
      'Every status change, creation included, made by any server or worker. Customers receive the changes of ' +
      "their own reservations (naming another customer's reservation receives nothing), admins everyone's.",
    topics: STATUS_CHANGED,
    // Runs once, at subscribe time (a malformed id fails there); the hub applies the audience before queueing.
    topicId: ({ args, context }: SubscribeResolverData<unknown, { reservationId?: string | null }, Context>) =>
      audience(requireUser(context.user), args.reservationId, context.revoked),
  })
  async reservationStatusChanged(
    @Root() change: LiveChange,
    @Ctx() ctx: Context,
    // Declared for the schema; `topicId` above reads it.
    @Arg('reservationId', () => ID, { nullable: true, description: 'Only this reservation.' }) _reservationId?: string | null,
  ): Promise<ReservationStatusChange> {
    const { reservation, customer } = await change.current();
    if (!reservation) throw new Error(`reservation ${change.reservationId} of a live event is missing`);
    // A subscription's context lives as long as the subscription: each event starts with an empty user cache
    // (fresh data, bounded memory), primed with the customer every local subscriber shares.
    ctx.loaders.user.clearAll();
    ctx.loaders.noShowCount.clearAll();
    if (customer) ctx.loaders.user.prime(change.customerId, customer);
    // What every local subscriber receives of one change, built once for all of them: GraphQL execution only reads
    // it. (Building it per subscriber was a measurable share of fanning a change out to 1,000 of them.)
    const shared = ctx.services.views.changes;
    let result = shared.get(change);
    if (!result) shared.set(change, (result = { reservation: reservationView(reservation), event: eventView(change.event) }));
    return result;
  }
}
