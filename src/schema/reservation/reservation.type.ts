import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { ReservationStatus } from '../../models/status.js';
import { Connection } from '../connection.js';

registerEnumType(ReservationStatus, {
  name: 'ReservationStatus',
  description:
    'PENDING → CONFIRMED (an admin) → COMPLETED (automatic); PENDING or CONFIRMED → CANCELLED; CONFIRMED → NO_SHOW ' +
    '(an admin, after the start). COMPLETED, CANCELLED and NO_SHOW are final.',
});

@ObjectType({ simpleResolvers: true, description: 'One change of a reservation status, oldest first in `history`.' })
export class ReservationEvent {
  @Field(() => ID)
  id!: string;

  @Field(() => ReservationStatus, { nullable: true, description: 'null for the creation event.' })
  from?: ReservationStatus | null;

  @Field(() => ReservationStatus)
  to!: ReservationStatus;

  @Field()
  at!: Date;

  @Field({ description: '`customer:<userId>`, `admin:<userId>` or `system:auto-complete`.' })
  actor!: string;

  @Field(() => String, { nullable: true })
  reason?: string | null;
}

@ObjectType({ simpleResolvers: true })
export class Reservation {
  @Field(() => ID)
  id!: string;

  @Field({ description: 'Short, unique, human-friendly code (Crockford base32), used in emails.' })
  reference!: string;

  customerId!: string;

  @Field()
  startTime!: Date;

  @Field(() => Int)
  partySize!: number;

  @Field(() => String, { nullable: true })
  notes?: string | null;

  @Field(() => ReservationStatus)
  status!: ReservationStatus;

  @Field(() => String, { nullable: true })
  cancellationReason?: string | null;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;

  @Field(() => [ReservationEvent])
  history!: ReservationEvent[];
}

@ObjectType({ simpleResolvers: true, description: 'A page of reservations: `nodes`, or `edges { cursor node }`, and `pageInfo`.' })
export class ReservationConnection extends Connection(Reservation, 'Reservation') {
  @Field(() => Int, { description: 'All reservations matching the filters, across pages.' })
  totalCount!: number;
}

@ObjectType({ simpleResolvers: true })
export class ReservationStatusChange {
  @Field(() => Reservation)
  reservation!: Reservation;

  @Field(() => ReservationEvent)
  event!: ReservationEvent;
}
