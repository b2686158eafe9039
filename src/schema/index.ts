import 'reflect-metadata';
import { buildSchema, type NonEmptyArray } from 'type-graphql';
import type { GraphQLSchema } from 'graphql';
import { liveChanges } from '../live/channel.js';
import { ReservationResolver } from './reservation/reservation.resolver.js';
import { ReservationSubscriptionResolver } from './reservation/reservation.subscription.js';
import { UserResolver } from './user/user.resolver.js';

const resolvers: NonEmptyArray<Function> = [UserResolver, ReservationResolver, ReservationSubscriptionResolver];

let built: Promise<GraphQLSchema> | undefined;

/** The schema, built once per process (type-graphql builds are not free). */
export function appSchema(): Promise<GraphQLSchema> {
  built ??= buildSchema({
    resolvers,
    pubSub: liveChanges,
    validate: { forbidUnknownValues: false },
  });
  return built;
}
