// The event types enabled webhook endpoints subscribe to, for the status pipeline: a change no endpoint wants
// schedules no fan-out job. One small query per hand-over (a mutation, a sweep batch), never cached: an endpoint
// is served from the first change after its creation, in every process.
import type { WebhookSubscriptions } from '../status/service.js';
import { WebhookEndpointModel } from './models.js';

export const webhookSubscriptions: WebhookSubscriptions = Object.freeze({
  async eventTypes() {
    const endpoints = await WebhookEndpointModel.find({ enabled: true }, { events: 1, _id: 0 }).lean();
    return new Set(endpoints.flatMap((e) => e.events));
  },
});
