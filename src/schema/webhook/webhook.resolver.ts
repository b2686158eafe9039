// Webhook endpoints and their delivery log, for admins only (customers: FORBIDDEN).
import { Arg, Args, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { Types } from 'mongoose';
import { intervalMs } from '../../config.js';
import { redeliver } from '../../webhooks/delivery.js';
import {
  WebhookAttemptModel,
  WebhookDeliveryModel,
  WebhookEndpointModel,
  type WebhookDeliveryRecord,
  type WebhookEndpointRecord,
} from '../../webhooks/models.js';
import { createSecretBox, newSigningSecret } from '../../webhooks/secrets.js';
import { checkWebhookUrl, UnsafeUrlError } from '../../webhooks/url-safety.js';
import { requireAdmin } from '../auth.js';
import { connectionOf } from '../connection.js';
import type { Context } from '../context.js';
import { badInput, notFound } from '../errors.js';
import { parseId } from '../ids.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../reservation/reservation.inputs.js';
import { CreateWebhookEndpointInput, UpdateWebhookEndpointInput, WebhookDeliveriesArgs } from './webhook.inputs.js';
import {
  WebhookDelivery,
  WebhookDeliveryConnection,
  WebhookEndpoint,
  WebhookEndpointWithSecret,
} from './webhook.type.js';

const endpointNotFound = () => notFound('Webhook endpoint not found');

function endpointView(e: WebhookEndpointRecord & { createdAt?: Date }): WebhookEndpoint {
  return {
    id: e._id.toString(),
    url: e.url,
    events: e.events as WebhookEndpoint['events'],
    description: e.description ?? null,
    enabled: e.enabled,
    disabledReason: e.enabled ? null : (e.disabledReason ?? null),
    createdAt: e.createdAt!,
  };
}

/** Deliveries as the GraphQL type, their attempts loaded in one query for the whole page. */
async function deliveryViews(deliveries: WebhookDeliveryRecord[]): Promise<WebhookDelivery[]> {
  const attempts = await WebhookAttemptModel.find({ delivery: { $in: deliveries.map((d) => d._id) } })
    .sort({ delivery: 1, n: 1 })
    .lean();
  const byDelivery = new Map<string, typeof attempts>();
  for (const a of attempts) {
    const key = a.delivery.toString();
    byDelivery.set(key, [...(byDelivery.get(key) ?? []), a]);
  }
  return deliveries.map((d) => ({
    id: d._id.toString(),
    webhookId: d.webhookId,
    eventType: d.eventType as WebhookDelivery['eventType'],
    status: d.status as WebhookDelivery['status'],
    endpointId: d.endpoint.toString(),
    reservationId: d.reservation.toString(),
    nextAttemptAt: d.nextAttemptAt ?? null,
    createdAt: d.createdAt,
    attempts: (byDelivery.get(d._id.toString()) ?? []).map((a) => ({
      at: a.at,
      statusCode: a.statusCode ?? null,
      durationMs: a.durationMs ?? null,
      response: a.response ?? null,
      error: a.error ?? (a.state === 'sending' ? 'in progress' : null),
    })),
  }));
}

/** The URL rules' refusal as BAD_USER_INPUT on `url`. */
async function checkedUrl(url: string, ctx: Context): Promise<string> {
  try {
    return (await checkWebhookUrl(url.trim(), ctx.services.config)).href;
  } catch (err) {
    if (err instanceof UnsafeUrlError) throw badInput(err.message, 'url');
    throw err;
  }
}

const encodeCursor = (id: Types.ObjectId) => Buffer.from(id.toHexString()).toString('base64url');
function decodeCursor(cursor: string): Types.ObjectId {
  const hex = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[0-9a-f]{24}$/.test(hex)) throw badInput('after is not a valid cursor', 'after');
  return new Types.ObjectId(hex);
}

@Resolver()
export class WebhookResolver {
  @Query(() => [WebhookEndpoint], { description: 'Admins only: every webhook endpoint, oldest first.' })
  async webhookEndpoints(@Ctx() ctx: Context): Promise<WebhookEndpoint[]> {
    requireAdmin(ctx.user);
    const docs = await WebhookEndpointModel.find({}, { secrets: 0 }).sort({ createdAt: 1, _id: 1 }).lean<WebhookEndpointRecord[]>();
    return docs.map(endpointView);
  }

  @Mutation(() => WebhookEndpointWithSecret, { description: 'Admins only. The signing secret is shown in this answer only.' })
  async createWebhookEndpoint(
    @Arg('input', () => CreateWebhookEndpointInput) input: CreateWebhookEndpointInput,
    @Ctx() ctx: Context,
  ): Promise<WebhookEndpointWithSecret> {
    requireAdmin(ctx.user);
    const url = await checkedUrl(input.url, ctx);
    const secret = newSigningSecret();
    const doc = await WebhookEndpointModel.create({
      url,
      events: [...new Set(input.events)],
      ...(input.description?.trim() ? { description: input.description.trim() } : {}),
      enabled: true,
      secrets: [{ encrypted: createSecretBox(ctx.services.config).encrypt(secret), createdAt: new Date() }],
    });
    return { endpoint: endpointView(doc.toObject() as WebhookEndpointRecord), secret };
  }

  @Mutation(() => WebhookEndpoint, { description: 'Admins only: change the url, events, description, or enable/disable it.' })
  async updateWebhookEndpoint(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateWebhookEndpointInput) input: UpdateWebhookEndpointInput,
    @Ctx() ctx: Context,
  ): Promise<WebhookEndpoint> {
    requireAdmin(ctx.user);
    const _id = parseId(id);
    if (!(await WebhookEndpointModel.exists({ _id }))) throw endpointNotFound();
    const set: Record<string, unknown> = {};
    const unset: Record<string, 1> = {};
    if (input.url != null) set.url = await checkedUrl(input.url, ctx);
    if (input.events != null) set.events = [...new Set(input.events)];
    if (input.description != null) set.description = input.description.trim();
    if (input.enabled === true) {
      set.enabled = true;
      Object.assign(unset, { failingSince: 1, disabledAt: 1, disabledReason: 1 });
    } else if (input.enabled === false) {
      Object.assign(set, { enabled: false, disabledAt: new Date(), disabledReason: 'disabled by an admin' });
    }
    const doc = await WebhookEndpointModel.findOneAndUpdate(
      { _id },
      { ...(Object.keys(set).length ? { $set: set } : {}), ...(Object.keys(unset).length ? { $unset: unset } : {}) },
      // No projection: FerretDB 1.24's findAndModify does not implement `fields` (endpointView never reads the secrets).
      { returnDocument: 'after' },
    ).lean<WebhookEndpointRecord>();
    if (!doc) throw endpointNotFound();
    return endpointView(doc);
  }

  @Mutation(() => WebhookEndpointWithSecret, {
    description: 'Admins only: a new signing secret, shown this once; the old one keeps signing beside it for WEBHOOK_SECRET_OVERLAP.',
  })
  async rotateWebhookSecret(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<WebhookEndpointWithSecret> {
    requireAdmin(ctx.user);
    const doc = await WebhookEndpointModel.findById(parseId(id)).lean<WebhookEndpointRecord>();
    if (!doc) throw endpointNotFound();
    const now = new Date();
    const overlapEnds = new Date(now.getTime() + intervalMs(ctx.services.config.WEBHOOK_SECRET_OVERLAP));
    const secret = newSigningSecret();
    const kept = doc.secrets
      .filter((s) => !s.expiresAt || s.expiresAt > now)
      .map((s) => ({ ...s, expiresAt: s.expiresAt && s.expiresAt < overlapEnds ? s.expiresAt : overlapEnds }));
    const secrets = [{ encrypted: createSecretBox(ctx.services.config).encrypt(secret), createdAt: now }, ...kept];
    const updated = await WebhookEndpointModel.findOneAndUpdate({ _id: doc._id }, { $set: { secrets } }, { returnDocument: 'after' }).lean<WebhookEndpointRecord>();
    if (!updated) throw endpointNotFound();
    return { endpoint: endpointView(updated), secret };
  }

  @Mutation(() => Boolean, { description: 'Admins only: deletes the endpoint and its delivery log; true when it existed.' })
  async deleteWebhookEndpoint(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<boolean> {
    requireAdmin(ctx.user);
    const _id = parseId(id);
    const { deletedCount } = await WebhookEndpointModel.deleteOne({ _id });
    if (deletedCount === 0) throw endpointNotFound();
    const deliveries = await WebhookDeliveryModel.find({ endpoint: _id }, { _id: 1 }).lean();
    await WebhookAttemptModel.deleteMany({ delivery: { $in: deliveries.map((d) => d._id) } });
    await WebhookDeliveryModel.deleteMany({ endpoint: _id });
    return true;
  }

  @Query(() => WebhookDeliveryConnection, {
    description: "Admins only: an endpoint's deliveries, newest first, with their attempts.",
    complexity: ({ args, childComplexity }) =>
      1 + childComplexity * Math.min(Number(args.first ?? DEFAULT_PAGE_SIZE) || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
  })
  async webhookDeliveries(@Args(() => WebhookDeliveriesArgs) args: WebhookDeliveriesArgs, @Ctx() ctx: Context): Promise<WebhookDeliveryConnection> {
    requireAdmin(ctx.user);
    const endpoint = parseId(args.endpointId, 'endpointId');
    const filter: Record<string, unknown> = { endpoint, ...(args.status ? { status: args.status } : {}) };
    const first = args.first ?? DEFAULT_PAGE_SIZE;
    const page = args.after ? { ...filter, _id: { $lt: decodeCursor(args.after) } } : filter;
    const [docs, totalCount] = await Promise.all([
      WebhookDeliveryModel.find(page, { payload: 0 }).sort({ _id: -1 }).limit(first + 1).lean<WebhookDeliveryRecord[]>(),
      WebhookDeliveryModel.countDocuments(filter),
    ]);
    const onPage = docs.slice(0, first);
    const views = await deliveryViews(onPage);
    const edges = onPage.map((doc, i) => ({ cursor: encodeCursor(doc._id), node: views[i]! }));
    return { ...connectionOf(edges, docs.length > first), totalCount };
  }

  @Mutation(() => WebhookDelivery, { description: 'Admins only: sends a delivery again (same webhook-id), with the full retry schedule.' })
  async redeliverWebhook(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<WebhookDelivery> {
    requireAdmin(ctx.user);
    const delivery = await redeliver(ctx.services.agenda, parseId(id));
    if (!delivery) throw notFound('Webhook delivery not found');
    const [view] = await deliveryViews([delivery]);
    return view!;
  }
}
