import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { WebhookEventType } from '../../webhooks/events.js';
import { WebhookDeliveryStatus } from '../../webhooks/models.js';
import { Connection } from '../connection.js';

registerEnumType(WebhookEventType, {
  name: 'WebhookEventType',
  description: 'What an endpoint subscribes to; sent on the wire as the payload `type` (`RESERVATION_CREATED` → `reservation.created`).',
});

registerEnumType(WebhookDeliveryStatus, {
  name: 'WebhookDeliveryStatus',
  description: 'PENDING until a 2xx answer (DELIVERED) or the last retry, a 410 Gone or a disabled endpoint (FAILED).',
});

@ObjectType({ simpleResolvers: true, description: 'A URL that receives signed webhooks (Standard Webhooks) for the events it subscribes to.' })
export class WebhookEndpoint {
  @Field(() => ID)
  id!: string;

  @Field()
  url!: string;

  @Field(() => [WebhookEventType])
  events!: WebhookEventType[];

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field({ description: 'false once disabled: by an admin, by a 410 Gone answer, or after WEBHOOK_DISABLE_AFTER of failures.' })
  enabled!: boolean;

  @Field(() => String, { nullable: true, description: 'Why it was disabled automatically, when it was.' })
  disabledReason?: string | null;

  @Field()
  createdAt!: Date;
}

@ObjectType({ simpleResolvers: true, description: 'An endpoint and its signing secret (`whsec_…`), shown this once.' })
export class WebhookEndpointWithSecret {
  @Field(() => WebhookEndpoint)
  endpoint!: WebhookEndpoint;

  @Field()
  secret!: string;
}

@ObjectType({ simpleResolvers: true, description: 'One request of a delivery and its answer.' })
export class WebhookAttempt {
  @Field()
  at!: Date;

  @Field(() => Int, { nullable: true, description: 'The HTTP status of the answer; null when there was none.' })
  statusCode?: number | null;

  @Field(() => Int, { nullable: true })
  durationMs?: number | null;

  @Field(() => String, { nullable: true, description: 'The first 1 KB of the answer.' })
  response?: string | null;

  @Field(() => String, { nullable: true, description: 'Why there was no answer (timeout, refused address, connection error).' })
  error?: string | null;
}

@ObjectType({ simpleResolvers: true, description: 'One status change sent to one endpoint, with every attempt.' })
export class WebhookDelivery {
  @Field(() => ID)
  id!: string;

  @Field({ description: 'The `webhook-id` header: the same on every attempt and redelivery.' })
  webhookId!: string;

  @Field(() => WebhookEventType)
  eventType!: WebhookEventType;

  @Field(() => WebhookDeliveryStatus)
  status!: WebhookDeliveryStatus;

  @Field(() => ID)
  endpointId!: string;

  @Field(() => ID)
  reservationId!: string;

  @Field(() => Date, { nullable: true, description: 'When the next retry is due, while PENDING.' })
  nextAttemptAt?: Date | null;

  @Field()
  createdAt!: Date;

  @Field(() => [WebhookAttempt], { description: 'Oldest first; attempts older than WEBHOOK_LOG_RETENTION are deleted.' })
  attempts!: WebhookAttempt[];
}

@ObjectType({ simpleResolvers: true, description: 'A page of webhook deliveries: `nodes`, or `edges { cursor node }`, and `pageInfo`.' })
export class WebhookDeliveryConnection extends Connection(WebhookDelivery, 'WebhookDelivery') {
  @Field(() => Int, { description: 'All deliveries matching the filters, across pages.' })
  totalCount!: number;
}
