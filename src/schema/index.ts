import 'reflect-metadata';
import { buildSchema, type NonEmptyArray } from 'type-graphql';
import type { GraphQLSchema } from 'graphql';
import type { LiveChange } from '../live/channel.js';
import type { Hub } from '../live/hub.js';
import { ReservationResolver } from './reservation/reservation.resolver.js';
import { ReservationSubscriptionResolver } from './reservation/reservation.subscription.js';
import { UserResolver } from './user/user.resolver.js';
import { WebhookResolver } from './webhook/webhook.resolver.js';

const RESOLVERS: Readonly<NonEmptyArray<Function>> = Object.freeze([UserResolver, ReservationResolver, ReservationSubscriptionResolver, WebhookResolver] as const);

/** The schema, with subscriptions reading `hub` (an API server builds it once: type-graphql builds are not free). */
export function buildAppSchema(hub: Hub<LiveChange>): Promise<GraphQLSchema> {
  return buildSchema({ resolvers: [...RESOLVERS], pubSub: hub, validate: { forbidUnknownValues: false } });
}
