// The body of a webhook: `{ type, timestamp, data: { reservation, event } }`, the reservation with the fields of
// the GraphQL type as the change left it (its history up to that change), its customer as the GraphQL `User`
// (no password material: the view has none). Made once per delivery and stored, so every attempt sends the same.
import type { ReservationRecord } from '../models/reservation.js';
import type { StatusEventRecord } from '../models/status-event.js';
import { ReservationStatus } from '../models/status.js';
import type { UserDocument } from '../models/user.js';
import { eventView, reservationView } from '../schema/reservation/reservation.view.js';
import { userView } from '../schema/user/user.view.js';
import type { WebhookEventType } from './events.js';

export function webhookPayload(
  type: WebhookEventType,
  reservation: ReservationRecord & { _id: unknown },
  index: number,
  customer: UserDocument | null,
): string {
  const history = (reservation.history as StatusEventRecord[]).slice(0, index + 1);
  const event = history[index]!;
  const cancelled = history.find((e) => e.to === ReservationStatus.CANCELLED);
  const asLeft = {
    ...reservation,
    history,
    status: event.to,
    updatedAt: event.at,
    cancellationReason: cancelled?.reason ?? undefined,
  } as never;
  const { customerId, ...view } = reservationView(asLeft);
  return JSON.stringify({
    type,
    timestamp: event.at.toISOString(),
    data: {
      reservation: { ...view, customer: customer ? userView(customer) : { id: customerId } },
      event: eventView(event),
    },
  });
}
