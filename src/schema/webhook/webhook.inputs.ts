import { ArgsType, Field, ID, InputType, Int } from 'type-graphql';
import { ArrayMaxSize, ArrayMinSize, IsOptional, Max, MaxLength, Min } from 'class-validator';
import { WebhookEventType } from '../../webhooks/events.js';
import { WebhookDeliveryStatus } from '../../webhooks/models.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../reservation/reservation.inputs.js';

@InputType()
export class CreateWebhookEndpointInput {
  @Field({ description: 'https in production; must not resolve to a loopback, private or link-local address.' })
  @MaxLength(2000, { message: 'url must be at most 2000 characters' })
  url!: string;

  @Field(() => [WebhookEventType])
  @ArrayMinSize(1, { message: 'events must name at least one event type' })
  @ArrayMaxSize(20)
  events!: WebhookEventType[];

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(500, { message: 'description must be at most 500 characters' })
  description?: string | null;
}

@InputType()
export class UpdateWebhookEndpointInput {
  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(2000, { message: 'url must be at most 2000 characters' })
  url?: string | null;

  @Field(() => [WebhookEventType], { nullable: true })
  @IsOptional()
  @ArrayMinSize(1, { message: 'events must name at least one event type' })
  @ArrayMaxSize(20)
  events?: WebhookEventType[] | null;

  @Field(() => Boolean, { nullable: true, description: 'true re-enables a disabled endpoint.' })
  enabled?: boolean | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(500, { message: 'description must be at most 500 characters' })
  description?: string | null;
}

@ArgsType()
export class WebhookDeliveriesArgs {
  @Field(() => ID)
  endpointId!: string;

  @Field(() => WebhookDeliveryStatus, { nullable: true })
  status?: WebhookDeliveryStatus | null;

  @Field(() => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE, description: `Page size, 1 to ${MAX_PAGE_SIZE}.` })
  @IsOptional()
  @Min(1, { message: `first must be between 1 and ${MAX_PAGE_SIZE}` })
  @Max(MAX_PAGE_SIZE, { message: `first must be between 1 and ${MAX_PAGE_SIZE}` })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}
