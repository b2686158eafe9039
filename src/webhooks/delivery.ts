// Webhook deliveries: a status change becomes one delivery per subscribed endpoint (fanOut), and each delivery is
// attempted, retried per WEBHOOK_RETRY_SCHEDULE, and finished DELIVERED or FAILED (attempt), by Agenda jobs that
// only workers running the `webhooks` group run (src/jobs/groups.ts).
//
// Order: the deliveries of one reservation to one endpoint go in the order of its changes. A delivery with an
// earlier one still PENDING waits for it ("come back later": no attempt spent); the earlier one, once finished,
// brings the next forward. A change's fan-out also makes the deliveries of the reservation's earlier changes the
// endpoint should get, should their own fan-outs not have run yet (fan-out jobs may run in any order).
//
// Isolation: a worker runs at most PER_ENDPOINT_IN_FLIGHT attempts to one endpoint at once; a delivery beyond that
// comes back later without holding a job slot, so a hanging endpoint cannot take every slot from the others.
//
// Crashes: each attempt is inserted once (`<deliveryId>#<n>`, state `sending`) before its request. A worker
// killed mid-request leaves the attempt `sending` and its job locked; once the job's lock lifetime has passed,
// another run takes the attempt for abandoned and sends again with the same `webhook-id`: the receiver may see one
// duplicate per such crash, never a lost delivery.
import type { Job } from 'agenda';
import { Types } from 'mongoose';
import { Webhook } from 'standardwebhooks';
import { intervalMs, type Config } from '../config.js';
import { insertOnce } from '../db/writes.js';
import { jobIdFor, runSoon, scheduleOnce } from '../jobs/agenda.js';
import { JOB } from '../jobs/names.js';
import { Reservation } from '../models/reservation.js';
import type { StatusEventRecord } from '../models/status-event.js';
import { User } from '../models/user.js';
import type { StatusEventJobData } from '../status/effects.js';
import { webhookEventOf, type WebhookEventType } from './events.js';
import {
  WebhookAttemptModel,
  WebhookDeliveryModel,
  WebhookDeliveryStatus,
  WebhookEndpointModel,
  type WebhookDeliveryRecord,
  type WebhookEndpointRecord,
} from './models.js';
import { webhookPayload } from './payload.js';
import type { SecretBox } from './secrets.js';
import { sendWebhook, type SendResult } from './send.js';

/** Attempts one worker runs at once against one endpoint: half its delivery slots (deliver-webhook's concurrency,
 *  20), so a hanging endpoint leaves the other half to the rest. */
export const PER_ENDPOINT_IN_FLIGHT = 10;
/** Jitter on each retry interval: ±10%. */
const JITTER = 0.1;

export interface DeliveryJobData {
  deliveryId: string;
  /** The round the job belongs to: a redelivery's job supersedes the earlier round's. */
  round?: number;
}

export interface WebhookDisabledEmailData {
  endpointId: string;
  reason: string;
}

/** What the webhook jobs of one worker share (made per worker: no module state). */
export interface WebhookRuntime {
  config: Config;
  box: SecretBox;
  agenda: import('agenda').Agenda;
  log: import('pino').Logger;
  /** Attempts running now in this worker, per endpoint id. */
  inFlight: Map<string, number>;
}

/** A delivery's id: one per change per endpoint, however many fan-outs run. */
export const deliveryIdFor = (eventId: string, endpointId: string) => jobIdFor(`webhook-delivery:${eventId}:${endpointId}`);
/** The job of a delivery's round (round 0, then one per redelivery). */
export const deliveryJobKey = (deliveryId: string, round: number) => `webhook:${deliveryId}:${round}`;

export async function scheduleDelivery(agenda: import('agenda').Agenda, deliveryId: string, round: number, runAt?: Date): Promise<void> {
  await scheduleOnce(agenda, {
    name: JOB.deliverWebhook,
    data: { deliveryId, round } satisfies DeliveryJobData,
    ...(runAt ? { runAt } : {}),
    uniqueKey: deliveryJobKey(deliveryId, round),
  });
}

/** Makes the deliveries of change `eventId` (and of earlier changes not yet made) and schedules their jobs. */
export async function fanOut(rt: WebhookRuntime, data: StatusEventJobData): Promise<number> {
  const reservation = await Reservation.findById(data.reservationId).lean();
  const history = (reservation?.history ?? []) as StatusEventRecord[];
  const index = history.findIndex((e) => e._id.toString() === data.eventId);
  if (!reservation || index < 0) {
    rt.log.warn({ reservationId: data.reservationId, eventId: data.eventId }, 'no such reservation or status event; no webhooks');
    return 0;
  }
  const types = history.slice(0, index + 1).map((e) => webhookEventOf(e));
  const own = types[index];
  if (!own) return 0;
  const endpoints = await WebhookEndpointModel.find({ enabled: true, events: own }, { events: 1, createdAt: 1 }).lean();
  if (endpoints.length === 0) return 0;
  const customer = await User.findById(reservation.customer);
  const payloads = new Map<number, string>();
  const payloadOf = (j: number) => {
    if (!payloads.has(j)) payloads.set(j, webhookPayload(types[j]!, reservation as never, j, customer));
    return payloads.get(j)!;
  };
  let made = 0;
  for (const endpoint of endpoints) {
    for (let j = 0; j <= index; j++) {
      const type = types[j];
      const event = history[j]!;
      if (!type || !endpoint.events.includes(type)) continue;
      // An endpoint gets the changes made after it was created (not one made before whose fan-out ran late).
      if (event.at < (endpoint as { createdAt: Date }).createdAt) continue;
      const id = deliveryIdFor(event._id.toString(), endpoint._id.toString());
      const now = new Date();
      const inserted = await insertOnce(WebhookDeliveryModel.collection, {
        _id: id,
        webhookId: `msg_${id.toHexString()}`,
        endpoint: endpoint._id,
        reservation: reservation._id,
        eventId: event._id.toString(),
        eventType: type,
        seq: j + 1,
        payload: payloadOf(j),
        status: WebhookDeliveryStatus.PENDING,
        retries: 0,
        round: 0,
        createdAt: now,
        updatedAt: now,
      });
      if (inserted) made++;
      // An earlier change's own fan-out schedules its job if this one made its delivery and then died.
      if (inserted || j === index) await scheduleDelivery(rt.agenda, id.toHexString(), 0);
    }
  }
  return made;
}

/** The `webhook-signature` header: one signature per live secret (the new one, and a rotated-out one in its overlap). */
export function signatures(rt: WebhookRuntime, endpoint: WebhookEndpointRecord, webhookId: string, at: Date, payload: string): string {
  return endpoint.secrets
    .filter((s) => !s.expiresAt || s.expiresAt > at)
    .map((s) => new Webhook(rt.box.decrypt(s.encrypted)).sign(webhookId, at, payload))
    .join(' ');
}

type Outcome = 'delivered' | 'failed' | 'retry' | 'later';

/** WEBHOOK_TIMEOUT, capped at 80% of the job's lock: an attempt must end before another worker may take the job over. */
export const attemptTimeoutMs = (c: Pick<Config, 'WEBHOOK_TIMEOUT' | 'JOB_LOCK_LIFETIME'>) =>
  Math.min(intervalMs(c.WEBHOOK_TIMEOUT), Math.floor(intervalMs(c.JOB_LOCK_LIFETIME) * 0.8));

const jittered = (ms: number) => Math.round(ms * (1 - JITTER + Math.random() * 2 * JITTER));

/** One run of a delivery's job: at most one attempt. Reschedules the job itself for a retry or a wait. */
export async function attempt(rt: WebhookRuntime, job: Job<DeliveryJobData>): Promise<Outcome | undefined> {
  const c = rt.config;
  const now = new Date();
  const delivery = await WebhookDeliveryModel.findById(job.attrs.data.deliveryId).lean<WebhookDeliveryRecord>();
  if (!delivery || delivery.status !== WebhookDeliveryStatus.PENDING) return undefined;
  if (job.attrs.data.round !== undefined && job.attrs.data.round !== delivery.round) return undefined;
  const log = rt.log.child({ deliveryId: delivery._id.toString(), webhookId: delivery.webhookId, endpointId: delivery.endpoint.toString() });
  const endpoint = await WebhookEndpointModel.findById(delivery.endpoint).lean<WebhookEndpointRecord>();
  if (!endpoint) {
    await WebhookDeliveryModel.deleteOne({ _id: delivery._id });
    return undefined;
  }
  if (!endpoint.enabled) {
    await finish(rt, delivery, WebhookDeliveryStatus.FAILED, now);
    log.info('endpoint disabled; delivery failed without an attempt');
    return 'failed';
  }

  // In order per reservation and endpoint: wait for an earlier one still on its way.
  const earlier = await WebhookDeliveryModel.findOne(
    { endpoint: delivery.endpoint, reservation: delivery.reservation, status: WebhookDeliveryStatus.PENDING, seq: { $lt: delivery.seq } },
    { nextAttemptAt: 1 },
  ).lean();
  const lockMs = intervalMs(c.JOB_LOCK_LIFETIME);
  if (earlier) {
    // It brings this one forward when it finishes; this date is only the backstop.
    const backstop = Math.max(earlier.nextAttemptAt?.getTime() ?? 0, now.getTime()) + lockMs;
    job.schedule(new Date(backstop));
    return 'later';
  }

  // The slot is taken before anything is awaited, so concurrent runs cannot all pass the check at once.
  const endpointKey = endpoint._id.toString();
  const busy = rt.inFlight.get(endpointKey) ?? 0;
  if (busy >= PER_ENDPOINT_IN_FLIGHT) {
    job.schedule(new Date(now.getTime() + intervalMs(c.JOB_POLL_INTERVAL)));
    return 'later';
  }
  rt.inFlight.set(endpointKey, busy + 1);
  try {
    return await claimAndSend(rt, job, delivery, endpoint, log, now);
  } finally {
    const left = (rt.inFlight.get(endpointKey) ?? 1) - 1;
    if (left > 0) rt.inFlight.set(endpointKey, left);
    else rt.inFlight.delete(endpointKey);
  }
}

/** Claims the next attempt of `delivery` and sends it (the caller holds one of the endpoint's slots). */
async function claimAndSend(
  rt: WebhookRuntime,
  job: Job<DeliveryJobData>,
  delivery: WebhookDeliveryRecord,
  endpoint: WebhookEndpointRecord,
  log: import('pino').Logger,
  now: Date,
): Promise<Outcome | undefined> {
  const c = rt.config;
  const lockMs = intervalMs(c.JOB_LOCK_LIFETIME);

  // Claim attempt n; an attempt still `sending` within the lock lifetime is another run's, one older is a dead worker's.
  const [latest] = await WebhookAttemptModel.find({ delivery: delivery._id }, { n: 1, state: 1, at: 1, round: 1, statusCode: 1, retryAt: 1 })
    .sort({ n: -1 })
    .limit(1)
    .lean();
  if (latest?.state === 'done' && latest.round === delivery.round) {
    // Another run of this job (FerretDB can run one job twice at once) finished an attempt since this run read the
    // delivery: its outcome stands. Delivered: finish (again, harmlessly); failed: its retry time.
    if (latest.statusCode !== undefined && latest.statusCode !== null && latest.statusCode >= 200 && latest.statusCode < 300) {
      await finish(rt, delivery, WebhookDeliveryStatus.DELIVERED, now);
      return 'delivered';
    }
    if (latest.retryAt && latest.retryAt > now) {
      job.schedule(latest.retryAt);
      return 'later';
    }
    const fresh = await WebhookDeliveryModel.findById(delivery._id, { status: 1 }).lean();
    if (fresh?.status !== WebhookDeliveryStatus.PENDING) return undefined;
  }
  if (latest?.state === 'sending') {
    const abandonedAt = latest.at.getTime() + lockMs;
    if (now.getTime() < abandonedAt) {
      job.schedule(new Date(abandonedAt));
      return 'later';
    }
    await WebhookAttemptModel.updateOne(
      { _id: latest._id, state: 'sending' },
      { $set: { state: 'done', error: 'the worker stopped before the answer was recorded' } },
    );
  }
  const n = (latest?.n ?? 0) + 1;
  const attemptId = `${delivery._id.toString()}#${n}`;
  if (!(await insertOnce(WebhookAttemptModel.collection, { _id: attemptId, delivery: delivery._id, n, round: delivery.round, at: now, state: 'sending' }))) {
    job.schedule(new Date(now.getTime() + lockMs));
    return 'later';
  }

  let result: SendResult;
  try {
    const headers = {
      'webhook-id': delivery.webhookId,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': signatures(rt, endpoint, delivery.webhookId, now, delivery.payload),
    };
    result = await sendWebhook(endpoint.url, headers, delivery.payload, { timeoutMs: attemptTimeoutMs(c), rules: c });
  } catch (err) {
    result = { durationMs: Date.now() - now.getTime(), error: err instanceof Error ? err.message : String(err) };
  }
  const ok = result.statusCode !== undefined && result.statusCode >= 200 && result.statusCode < 300;
  const schedule = c.WEBHOOK_RETRY_SCHEDULE;
  const retryAt =
    !ok && result.statusCode !== 410 && delivery.retries < schedule.length
      ? new Date(now.getTime() + jittered(intervalMs(schedule[delivery.retries]!)))
      : undefined;
  await WebhookAttemptModel.updateOne(
    { _id: attemptId },
    {
      $set: {
        ...(retryAt ? { retryAt } : {}),
        state: 'done',
        durationMs: result.durationMs,
        ...(result.statusCode !== undefined ? { statusCode: result.statusCode } : {}),
        ...(result.response ? { response: result.response } : {}),
        ...(result.error ? { error: result.error } : {}),
      },
    },
  );
  const fields = { attempt: n, statusCode: result.statusCode, durationMs: result.durationMs, error: result.error };

  if (ok) {
    if (endpoint.failingSince) await WebhookEndpointModel.updateOne({ _id: endpoint._id }, { $unset: { failingSince: 1 } });
    await finish(rt, delivery, WebhookDeliveryStatus.DELIVERED, now);
    log.info(fields, 'webhook delivered');
    return 'delivered';
  }
  if (result.statusCode === 410) {
    await disable(rt, endpoint, 'the receiver answered 410 Gone', now);
    await finish(rt, delivery, WebhookDeliveryStatus.FAILED, now);
    log.warn(fields, 'webhook endpoint answered 410 Gone: disabled');
    return 'failed';
  }
  const failingSince = endpoint.failingSince ?? now;
  if (!endpoint.failingSince) {
    await WebhookEndpointModel.updateOne({ _id: endpoint._id, failingSince: null }, { $set: { failingSince: now } });
  }
  if (now.getTime() - failingSince.getTime() >= intervalMs(c.WEBHOOK_DISABLE_AFTER)) {
    await disable(rt, endpoint, `every delivery failed since ${failingSince.toISOString()}`, now, failingSince);
    await finish(rt, delivery, WebhookDeliveryStatus.FAILED, now);
    log.warn(fields, 'webhook endpoint failing for WEBHOOK_DISABLE_AFTER: disabled');
    return 'failed';
  }
  if (retryAt) {
    const next = retryAt;
    await WebhookDeliveryModel.updateOne({ _id: delivery._id }, { $set: { retries: delivery.retries + 1, nextAttemptAt: next } });
    job.schedule(next);
    log.info({ ...fields, retryAt: next }, 'webhook attempt failed; will retry');
    return 'retry';
  }
  await finish(rt, delivery, WebhookDeliveryStatus.FAILED, now);
  log.warn(fields, 'webhook delivery failed: retries exhausted');
  return 'failed';
}

/** Finishes a delivery and brings forward the next one of its reservation to its endpoint. */
async function finish(rt: WebhookRuntime, delivery: WebhookDeliveryRecord, status: WebhookDeliveryStatus, now: Date): Promise<void> {
  await WebhookDeliveryModel.updateOne({ _id: delivery._id }, { $set: { status }, $unset: { nextAttemptAt: 1 } });
  const next = await WebhookDeliveryModel.findOne(
    { endpoint: delivery.endpoint, reservation: delivery.reservation, status: WebhookDeliveryStatus.PENDING, seq: { $gt: delivery.seq } },
    { round: 1 },
  )
    .sort({ seq: 1 })
    .lean();
  if (next) await runSoon(deliveryJobKey(next._id.toString(), next.round), now);
}

/** Disables an endpoint; when it is for failing too long, ADMIN_EMAIL is told once (an email job, run by email workers). */
async function disable(rt: WebhookRuntime, endpoint: WebhookEndpointRecord, reason: string, now: Date, failingSince?: Date): Promise<void> {
  await WebhookEndpointModel.updateOne({ _id: endpoint._id }, { $set: { enabled: false, disabledAt: now, disabledReason: reason } });
  if (!failingSince) return;
  await scheduleOnce(rt.agenda, {
    name: JOB.webhookDisabledEmail,
    data: { endpointId: endpoint._id.toString(), reason } satisfies WebhookDisabledEmailData,
    uniqueKey: `webhook-disabled:${endpoint._id.toString()}:${failingSince.getTime()}`,
  });
}

/** An admin's redelivery: the delivery PENDING again, a new round with the full retry schedule, the same webhook-id. */
export async function redeliver(agenda: import('agenda').Agenda, id: Types.ObjectId): Promise<WebhookDeliveryRecord | null> {
  const delivery = await WebhookDeliveryModel.findById(id).lean<WebhookDeliveryRecord>();
  if (!delivery) return null;
  const round = delivery.round + 1;
  await WebhookDeliveryModel.updateOne(
    { _id: id },
    { $set: { status: WebhookDeliveryStatus.PENDING, retries: 0, round }, $unset: { nextAttemptAt: 1 } },
  );
  await scheduleDelivery(agenda, id.toHexString(), round);
  return WebhookDeliveryModel.findById(id).lean<WebhookDeliveryRecord>();
}

/** Deletes attempts older than WEBHOOK_LOG_RETENTION, and finished deliveries last touched before then. */
export async function cleanLog(c: Config, now: Date): Promise<{ attempts: number; deliveries: number }> {
  const before = new Date(now.getTime() - intervalMs(c.WEBHOOK_LOG_RETENTION));
  const attempts = await WebhookAttemptModel.deleteMany({ at: { $lt: before }, state: 'done' });
  const deliveries = await WebhookDeliveryModel.deleteMany({
    status: { $in: [WebhookDeliveryStatus.DELIVERED, WebhookDeliveryStatus.FAILED] },
    updatedAt: { $lt: before },
  });
  return { attempts: attempts.deletedCount, deliveries: deliveries.deletedCount };
}

export type { WebhookEventType };
