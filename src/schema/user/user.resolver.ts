import { Arg, Ctx, FieldResolver, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { User as UserModel } from '../../models/user.js';
import { DUMMY_HASH, verifyPassword } from '../../lib/password.js';
import { createUser, DuplicateUserError } from '../../lib/users.js';
import { isAdmin, issueToken } from '../auth.js';
import type { Context } from '../context.js';
import { appError, badInput, ErrorCode, forbidden, toGraphQLError } from '../errors.js';
import { AuthPayload, User } from './user.type.js';
import { SignUpInput } from './sign-up.input.js';
import { userView } from './user.view.js';

@Resolver(() => User)
export class UserResolver {
  @Query(() => User, { nullable: true, description: 'The logged-in user, or null.' })
  async me(@Ctx() ctx: Context): Promise<User | null> {
    if (!ctx.user) return null;
    const u = await ctx.loaders.user.load(ctx.user.id.toString());
    return u ? userView(u) : null;
  }

  @FieldResolver(() => Int, { description: 'Reservations marked NO_SHOW. Visible to admins and to the user themself.' })
  async noShowCount(@Root() u: User, @Ctx() ctx: Context): Promise<number> {
    if (!ctx.user || (!isAdmin(ctx.user) && ctx.user.id.toHexString() !== u.id)) {
      throw forbidden("Only admins and the user themself can see a user's no-shows");
    }
    return ctx.loaders.noShowCount.load(u.id);
  }

  @Mutation(() => AuthPayload, { description: 'Creates a customer account and logs it in.' })
  async signUp(@Arg('input', () => SignUpInput) input: SignUpInput, @Ctx() ctx: Context): Promise<AuthPayload> {
    // Counted per client address before the account exists (TOO_MANY_REQUESTS past SIGNUP_MAX_PER_ADDRESS).
    await ctx.services.signUpLimiter.begin(ctx.clientAddress).catch((err: unknown) => Promise.reject(toGraphQLError(err)));
    try {
      const user = await createUser(input);
      return { token: await issueToken(user, ctx.services.config), user: userView(user) };
    } catch (err) {
      if (err instanceof DuplicateUserError) throw badInput(err.message, err.field);
      throw err;
    }
  }

  @Mutation(() => AuthPayload)
  async logIn(
    @Arg('email') email: string,
    @Arg('password') password: string,
    @Ctx() ctx: Context,
  ): Promise<AuthPayload> {
    const c = ctx.services.config;
    const normalized = String(email).trim().toLowerCase();
    // Counted before the password is checked, known email or not (TOO_MANY_REQUESTS past the limits).
    const attempt = await ctx.services.loginLimiter
      .begin({ email: normalized, clientAddress: ctx.clientAddress })
      .catch((err: unknown) => Promise.reject(toGraphQLError(err)));
    const user = await UserModel.findOne({ email: normalized }).select('+passwordHash');
    // Unknown email and wrong password: same error, same work (a hash is verified either way).
    const ok = await verifyPassword(String(password), user?.passwordHash ?? DUMMY_HASH);
    if (!user || !ok) throw appError(ErrorCode.UNAUTHENTICATED, 'Invalid email or password');
    await attempt.succeeded();
    return { token: await issueToken(user, c), user: userView(user) };
  }
}
