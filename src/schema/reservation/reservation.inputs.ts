import { ArgsType, Field, InputType, Int } from 'type-graphql';
import {
  IsOptional,
  Max,
  MaxLength,
  Min,
  registerDecorator,
  type ValidationOptions,
} from 'class-validator';
import { ReservationStatus } from '../../models/status.js';

function IsInTheFuture(options?: ValidationOptions) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isInTheFuture',
      target: target.constructor,
      propertyName,
      options: { message: `${propertyName} must be in the future`, ...options },
      validator: { validate: (v: unknown) => v instanceof Date && !Number.isNaN(v.getTime()) && v.getTime() > Date.now() },
    });
}

@InputType()
export class CreateReservationInput {
  @Field()
  @IsInTheFuture({ message: 'startTime must be in the future' })
  startTime!: Date;

  @Field(() => Int, { nullable: true, defaultValue: 1 })
  @IsOptional()
  @Min(1, { message: 'partySize must be between 1 and 50' })
  @Max(50, { message: 'partySize must be between 1 and 50' })
  partySize?: number | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(1000, { message: 'notes must be at most 1000 characters' })
  notes?: string | null;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

@ArgsType()
export class ReservationsArgs {
  @Field(() => ReservationStatus, { nullable: true })
  status?: ReservationStatus | null;

  @Field(() => Date, { nullable: true, description: 'Only reservations starting at or after this time.' })
  startFrom?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Only reservations starting at or before this time.' })
  startTo?: Date | null;

  @Field(() => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE, description: `Page size, 1 to ${MAX_PAGE_SIZE}.` })
  @IsOptional()
  @Min(1, { message: `first must be between 1 and ${MAX_PAGE_SIZE}` })
  @Max(MAX_PAGE_SIZE, { message: `first must be between 1 and ${MAX_PAGE_SIZE}` })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'The `endCursor` of the previous page.' })
  @IsOptional()
  @MaxLength(200)
  after?: string | null;
}
