import { Arg, Args, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { afterPosition } from '../../db/keyset.js';
import { Reservation as ReservationModel, type StoredReservation } from '../../models/reservation.js';
import { ReservationStatus } from '../../models/status.js';
import { actorOf, isAdmin, requireAdmin, requireUser } from '../auth.js';
import type { Context } from '../context.js';
import { connectionOf } from '../connection.js';
import { badInput, toGraphQLError } from '../errors.js';
import { parseId } from '../ids.js';
import { User } from '../user/user.type.js';
import { userView } from '../user/user.view.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { CreateReservationInput, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ReservationsArgs } from './reservation.inputs.js';
import { Reservation, ReservationConnection } from './reservation.type.js';
import { reservationView } from './reservation.view.js';

@Resolver(() => Reservation)
export class ReservationResolver {
  @Query(() => Reservation, { nullable: true, description: 'null when it does not exist or is not yours.' })
  async reservation(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Reservation | null> {
    const user = requireUser(ctx.user);
    const doc = await ReservationModel.findOne({ _id: parseId(id), ...(isAdmin(user) ? {} : { customer: user.id }) });
    return doc ? reservationView(doc) : null;
  }

  @Query(() => ReservationConnection, {
    description: 'Reservations in start-time order; customers see their own, admins all.',
    // A page costs its size times what each node asks for (QUERY_MAX_COMPLEXITY).
    complexity: ({ args, childComplexity }) =>
      1 + childComplexity * Math.min(Number(args.first ?? DEFAULT_PAGE_SIZE) || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
  })
  async reservations(@Args(() => ReservationsArgs) args: ReservationsArgs, @Ctx() ctx: Context): Promise<ReservationConnection> {
    const user = requireUser(ctx.user);
    if (args.startFrom && args.startTo && args.startFrom > args.startTo) {
      throw badInput('startFrom must not be after startTo', 'startFrom');
    }
    const filter: Record<string, unknown> = {};
    if (!isAdmin(user)) filter.customer = user.id;
    if (args.status) filter.status = args.status;
    if (args.startFrom || args.startTo) {
      filter.startTime = { ...(args.startFrom ? { $gte: args.startFrom } : {}), ...(args.startTo ? { $lte: args.startTo } : {}) };
    }
    const first = args.first ?? DEFAULT_PAGE_SIZE;
    const page = args.after ? { $and: [filter, afterPosition(decodeCursor(args.after))] } : filter;
    const [docs, totalCount] = await Promise.all([
      // Plain objects, not Mongoose documents: a page is only read, and hydrating 20 reservations with their
      // histories was most of its CPU (bench `cost`).
      ReservationModel.find(page).sort({ startTime: 1, _id: 1 }).limit(first + 1).lean<StoredReservation[]>(),
      ReservationModel.countDocuments(filter),
    ]);
    const hasNextPage = docs.length > first;
    const edges = docs.slice(0, first).map((doc) => ({
      cursor: encodeCursor({ startTime: doc.startTime, id: doc._id }),
      node: reservationView(doc),
    }));
    return {
      ...connectionOf(edges, hasNextPage),
      totalCount,
    };
  }

  @Mutation(() => Reservation, { description: 'Books a reservation for the logged-in user; it starts PENDING.' })
  async createReservation(
    @Arg('input', () => CreateReservationInput) input: CreateReservationInput,
    @Ctx() ctx: Context,
  ): Promise<Reservation> {
    const user = requireUser(ctx.user);
    const doc = await ctx.services.status.createReservation({
      customer: user.id,
      startTime: input.startTime,
      partySize: input.partySize ?? 1,
      notes: input.notes,
      actor: actorOf(user),
      afterCommit: ctx.afterResponse,
    });
    return reservationView(doc);
  }

  @Mutation(() => Reservation, { description: 'Admins only: PENDING → CONFIRMED.' })
  async confirmReservation(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Reservation> {
    const admin = requireAdmin(ctx.user);
    try {
      return reservationView(
        await ctx.services.status.transition({
          id: parseId(id),
          to: ReservationStatus.CONFIRMED,
          actor: actorOf(admin),
          afterCommit: ctx.afterResponse,
        }),
      );
    } catch (err) {
      throw toGraphQLError(err);
    }
  }

  @Mutation(() => Reservation, {
    description:
      'PENDING or CONFIRMED → CANCELLED, by an admin or its customer. A customer cannot within CANCELLATION_CUTOFF of ' +
      'the start (CANCELLATION_CLOSED); an admin always can.',
  })
  async cancelReservation(
    @Arg('id', () => ID) id: string,
    @Arg('reason', () => String, { nullable: true }) reason: string | null | undefined,
    @Ctx() ctx: Context,
  ): Promise<Reservation> {
    const user = requireUser(ctx.user);
    const trimmed = reason?.trim() || null;
    if (trimmed && trimmed.length > 500) throw badInput('reason must be at most 500 characters', 'reason');
    try {
      return reservationView(
        await ctx.services.status.transition({
          id: parseId(id),
          to: ReservationStatus.CANCELLED,
          actor: actorOf(user),
          reason: trimmed,
          // A customer's reach ends at their own reservations: another's is NOT_FOUND, not FORBIDDEN.
          scope: isAdmin(user) ? {} : { customer: user.id },
          afterCommit: ctx.afterResponse,
        }),
      );
    } catch (err) {
      throw toGraphQLError(err);
    }
  }

  @Mutation(() => Reservation, {
    description: 'Admins only: CONFIRMED → NO_SHOW (the customer did not come), once its start time has passed.',
  })
  async markNoShow(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Reservation> {
    const admin = requireAdmin(ctx.user);
    try {
      return reservationView(
        await ctx.services.status.transition({ id: parseId(id), to: ReservationStatus.NO_SHOW, actor: actorOf(admin) }),
      );
    } catch (err) {
      throw toGraphQLError(err);
    }
  }

  @FieldResolver(() => User)
  async customer(@Root() r: Reservation, @Ctx() ctx: Context): Promise<User> {
    const u = await ctx.loaders.user.load(r.customerId);
    if (!u) throw new Error(`customer ${r.customerId} of reservation ${r.id} is missing`);
    const views = ctx.services.views.users;
    let view = views.get(u);
    if (!view) views.set(u, (view = userView(u)));
    return view;
  }
}
