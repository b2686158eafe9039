// Webhook endpoints, their deliveries (one per change per subscribed endpoint) and each delivery's attempts.
//
// Attempts are documents of their own, `<deliveryId>#<n>`, inserted once before the request is sent ("insert
// once", src/db/writes.ts): of two runs of one delivery job (FerretDB cannot make Agenda's lock atomic) exactly
// one sends attempt n. They are also the log: admins read them, clean-webhook-log deletes the old ones.
import { Schema, Types, model, type InferSchemaType } from 'mongoose';
import { WebhookEventType } from './events.js';

export enum WebhookDeliveryStatus {
  PENDING = 'PENDING',
  DELIVERED = 'DELIVERED',
  FAILED = 'FAILED',
}

const secretSchema = new Schema(
  {
    /** The `whsec_…` secret, encrypted (secrets.ts); never stored or logged in clear. */
    encrypted: { type: String, required: true },
    createdAt: { type: Date, required: true },
    /** A rotated-out secret signs beside the new one until then; the current secret has none. */
    expiresAt: { type: Date },
  },
  { _id: false },
);

const endpointSchema = new Schema(
  {
    url: { type: String, required: true },
    events: { type: [String], enum: Object.values(WebhookEventType), required: true },
    description: { type: String, maxlength: 500 },
    enabled: { type: Boolean, required: true, default: true },
    /** Newest first. */
    secrets: { type: [secretSchema], required: true },
    /** When the current run of failures began (cleared by a success): WEBHOOK_DISABLE_AFTER counts from it. */
    failingSince: { type: Date },
    disabledAt: { type: Date },
    disabledReason: { type: String },
  },
  { timestamps: true },
);
endpointSchema.index({ enabled: 1, events: 1 });

export type WebhookEndpointRecord = InferSchemaType<typeof endpointSchema> & { _id: Types.ObjectId };
export const WebhookEndpointModel = model('WebhookEndpoint', endpointSchema, 'webhookEndpoints');

const deliverySchema = new Schema(
  {
    /** The Standard Webhooks message id (`webhook-id`): the same on every attempt and redelivery. */
    webhookId: { type: String, required: true },
    endpoint: { type: Schema.Types.ObjectId, required: true },
    reservation: { type: Schema.Types.ObjectId, required: true },
    eventId: { type: String, required: true },
    eventType: { type: String, enum: Object.values(WebhookEventType), required: true },
    /** The change's version in the reservation's history: deliveries of one reservation to one endpoint go in its order. */
    seq: { type: Number, required: true },
    /** The body, fixed when the delivery is made, so every attempt sends (and signs) the same bytes. */
    payload: { type: String, required: true },
    status: { type: String, enum: Object.values(WebhookDeliveryStatus), required: true },
    /** Retries used in the current round (a redelivery starts a new round). */
    retries: { type: Number, required: true, default: 0 },
    /** How many times an admin asked for it again: names the job of each round. */
    round: { type: Number, required: true, default: 0 },
    nextAttemptAt: { type: Date },
  },
  { timestamps: true },
);
deliverySchema.index({ endpoint: 1, status: 1, _id: -1 });
deliverySchema.index({ endpoint: 1, reservation: 1, status: 1, seq: 1 });
deliverySchema.index({ status: 1, updatedAt: 1 });

export type WebhookDeliveryRecord = InferSchemaType<typeof deliverySchema> & { _id: Types.ObjectId; createdAt: Date; updatedAt: Date };
export const WebhookDeliveryModel = model('WebhookDelivery', deliverySchema, 'webhookDeliveries');

const attemptSchema = new Schema(
  {
    _id: { type: String, required: true },
    delivery: { type: Schema.Types.ObjectId, required: true },
    n: { type: Number, required: true },
    /** The delivery's round when it was made (a redelivery starts a new one). */
    round: { type: Number, required: true, default: 0 },
    at: { type: Date, required: true },
    /** `sending` until the answer (or its absence) is recorded; one left `sending` is a worker that died. */
    state: { type: String, enum: ['sending', 'done'], required: true },
    statusCode: { type: Number },
    durationMs: { type: Number },
    /** The first 1 KB of the response body. */
    response: { type: String },
    error: { type: String },
    /** A failed attempt's retry time, written with its outcome: a second run of the job (FerretDB) waits for it. */
    retryAt: { type: Date },
  },
  { _id: false, versionKey: false },
);
attemptSchema.index({ delivery: 1, n: 1 });
attemptSchema.index({ at: 1 });

export type WebhookAttemptRecord = InferSchemaType<typeof attemptSchema>;
export const WebhookAttemptModel = model('WebhookAttempt', attemptSchema, 'webhookAttempts');
