// Which webhook event a status change is: the one table to extend when a status is added (one line in
// WEBHOOK_EVENT_BY_STATUS and one in WebhookEventType).
import type { StatusEventRecord } from '../models/status-event.js';

/** The event types endpoints subscribe to; the values are what travels in the payload's `type`. */
export enum WebhookEventType {
  RESERVATION_CREATED = 'reservation.created',
  RESERVATION_CONFIRMED = 'reservation.confirmed',
  RESERVATION_CANCELLED = 'reservation.cancelled',
  RESERVATION_COMPLETED = 'reservation.completed',
  RESERVATION_NO_SHOW = 'reservation.no_show',
}

/** The event a change to each status is (creation, a change from nothing, is `reservation.created`). */
const WEBHOOK_EVENT_BY_STATUS: Readonly<Partial<Record<string, WebhookEventType>>> = Object.freeze({
  CONFIRMED: WebhookEventType.RESERVATION_CONFIRMED,
  CANCELLED: WebhookEventType.RESERVATION_CANCELLED,
  COMPLETED: WebhookEventType.RESERVATION_COMPLETED,
  NO_SHOW: WebhookEventType.RESERVATION_NO_SHOW,
});

export function webhookEventOf(event: Pick<StatusEventRecord, 'from' | 'to'>): WebhookEventType | undefined {
  if (event.from == null) return WebhookEventType.RESERVATION_CREATED;
  return WEBHOOK_EVENT_BY_STATUS[event.to];
}
