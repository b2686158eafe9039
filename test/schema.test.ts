import fs from 'node:fs';
import { buildSchema, isObjectType, isInputObjectType, isEnumType, type GraphQLSchema, type GraphQLNamedType } from 'graphql';
import { createLiveHub } from '../src/live/channel.js';
import { buildAppSchema } from '../src/schema/index.js';
import { printSchemaFile, schemaFilePath } from '../src/schema/print.js';

// The GraphQL contract of DESIGN.md, verbatim: clients depend on these names and types.
const CONTRACT = `
scalar DateTimeISO
enum Role { CUSTOMER ADMIN }
enum ReservationStatus { PENDING CONFIRMED COMPLETED CANCELLED }
type User { id: ID!  email: String!  username: String!  firstName: String  lastName: String
            displayName: String!  role: Role!  createdAt: DateTimeISO! }
type Reservation { id: ID!  reference: String!  customer: User!  startTime: DateTimeISO!  partySize: Int!
                   notes: String  status: ReservationStatus!  cancellationReason: String
                   createdAt: DateTimeISO!  updatedAt: DateTimeISO!  history: [ReservationEvent!]! }
type ReservationEvent { id: ID!  from: ReservationStatus  to: ReservationStatus!  at: DateTimeISO!
                        actor: String!  reason: String }
type ReservationStatusChange { reservation: Reservation!  event: ReservationEvent! }
type ReservationConnection { nodes: [Reservation!]!  edges: [ReservationEdge!]!  pageInfo: PageInfo!  totalCount: Int! }
type ReservationEdge { cursor: String!  node: Reservation! }
type PageInfo { hasNextPage: Boolean!  endCursor: String }
type AuthPayload { token: String!  user: User! }
input SignUpInput { email: String!  username: String!  password: String!  firstName: String  lastName: String }
input CreateReservationInput { startTime: DateTimeISO!  partySize: Int = 1  notes: String }
type Query {
  me: User
  reservation(id: ID!): Reservation
  reservations(status: ReservationStatus, startFrom: DateTimeISO, startTo: DateTimeISO,
               first: Int = 20, after: String): ReservationConnection!
}
type Mutation {
  signUp(input: SignUpInput!): AuthPayload!
  logIn(email: String!, password: String!): AuthPayload!
  createReservation(input: CreateReservationInput!): Reservation!
  confirmReservation(id: ID!): Reservation!
  cancelReservation(id: ID!, reason: String): Reservation!
}
type Subscription { reservationStatusChanged(reservationId: ID): ReservationStatusChange! }
`;

/** Every type, field, argument (with type and default) and enum value of `contract` that `actual` lacks. */
function missingFrom(actual: GraphQLSchema, contract: GraphQLSchema): string[] {
  const missing: string[] = [];
  for (const [name, want] of Object.entries(contract.getTypeMap()) as [string, GraphQLNamedType][]) {
    if (name.startsWith('__')) continue;
    const have = actual.getType(name);
    if (!have) {
      missing.push(`type ${name}`);
      continue;
    }
    if (isEnumType(want) && isEnumType(have)) {
      for (const v of want.getValues()) if (!have.getValue(v.name)) missing.push(`${name}.${v.name}`);
    }
    if ((isObjectType(want) && isObjectType(have)) || (isInputObjectType(want) && isInputObjectType(have))) {
      const haveFields = have.getFields() as Record<string, any>;
      for (const [fname, f] of Object.entries(want.getFields()) as [string, any][]) {
        const h = haveFields[fname];
        if (!h) missing.push(`${name}.${fname}`);
        else if (String(h.type) !== String(f.type)) missing.push(`${name}.${fname}: ${f.type} (is ${h.type})`);
        else if ('defaultValue' in f && f.defaultValue !== h.defaultValue) missing.push(`${name}.${fname} = ${f.defaultValue}`);
        for (const a of f.args ?? []) {
          const ha = h?.args?.find((x: any) => x.name === a.name);
          if (!ha || String(ha.type) !== String(a.type) || ha.defaultValue !== a.defaultValue) {
            missing.push(`${name}.${fname}(${a.name}: ${a.type}${a.defaultValue !== undefined ? ` = ${a.defaultValue}` : ''})`);
          }
        }
      }
    }
  }
  return missing;
}

test('the committed schema.graphql matches the code (run `npm run emit-schema` after changing the API)', async () => {
  const committed = fs.readFileSync(schemaFilePath(), 'utf8');
  expect(await printSchemaFile()).toBe(committed);
});

test('the schema has every name and type of the GraphQL contract', async () => {
  expect(missingFrom(await buildAppSchema(createLiveHub()), buildSchema(CONTRACT))).toEqual([]);
});

test('the contract check itself notices a missing field and a changed type', async () => {
  const drifted = buildSchema(CONTRACT.replace('totalCount: Int!', '').replace('partySize: Int!', 'partySize: Int'));
  expect(missingFrom(drifted, buildSchema(CONTRACT))).toEqual(
    expect.arrayContaining(['ReservationConnection.totalCount', 'Reservation.partySize: Int! (is Int)']),
  );
});
