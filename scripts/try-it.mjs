#!/usr/bin/env node
// The README's tour of the API, runnable as is in a second terminal while `npm start` runs: a customer signs up
// and books, the admin made by `npm run create-admin` logs in, lists and confirms, the customer cancels. Each step
// prints the GraphQL operation it sends and the answer; each answer feeds the next step. Node 22+, no packages.
//
//   node scripts/try-it.mjs [--admin-email boss@example.com] [--admin-password 'admin secret 1']
//
// API_URL: the GraphQL endpoint (default http://localhost:4000/graphql, what `npm start` prints).
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    'admin-email': { type: 'string', default: 'boss@example.com' },
    'admin-password': { type: 'string', default: 'admin secret 1' },
  },
});
const URL = process.env.API_URL || 'http://localhost:4000/graphql';

/** One GraphQL request; prints it and its answer; stops the tour on an error. */
async function call(step, query, variables, token) {
  console.log(`\n${step}\n  → ${query.replace(/\s+/g, ' ').trim()}`);
  if (variables) console.log(`    variables: ${JSON.stringify(variables)}`);
  let res;
  try {
    res = await fetch(URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
  } catch (err) {
    throw new Error(`cannot reach ${URL} (${err.cause?.code ?? err.message}): is \`npm start\` running in another terminal?`);
  }
  const body = await res.json();
  if (body.errors?.length) {
    const [e] = body.errors;
    throw new Error(`${e.extensions?.code ?? 'ERROR'}: ${e.message}`);
  }
  console.log(`  ← ${JSON.stringify(body.data)}`);
  return body.data;
}

async function main() {
  // A new customer each run, so the tour can be run again.
  const suffix = Date.now().toString(36);
  const customer = await call(
    '1. A customer signs up (the answer carries their token)',
    `mutation SignUp($input: SignUpInput!) { signUp(input: $input) { token user { id displayName } } }`,
    { input: { email: `sam.${suffix}@example.com`, username: `sam_${suffix}`, password: 'a long password', firstName: 'Sam' } },
  );
  const customerToken = customer.signUp.token;

  // Tomorrow at 19:00 UTC.
  const start = new Date();
  start.setUTCDate(start.getUTCDate() + 1);
  start.setUTCHours(19, 0, 0, 0);
  const booked = await call(
    '2. They book a table for two, with their token (it starts PENDING; the admin is emailed)',
    `mutation Book($input: CreateReservationInput!) { createReservation(input: $input) { id reference status startTime } }`,
    { input: { startTime: start.toISOString(), partySize: 2, notes: 'Window seat, please' } },
    customerToken,
  );
  const id = booked.createReservation.id;

  let admin;
  try {
    admin = await call(
      '3. The admin logs in',
      `mutation LogIn($email: String!, $password: String!) { logIn(email: $email, password: $password) { token user { role } } }`,
      { email: args['admin-email'], password: args['admin-password'] },
    );
  } catch (err) {
    throw new Error(`${err.message}\nMake the admin first: npm run create-admin -- --email ${args['admin-email']} --password '${args['admin-password']}'`);
  }
  const adminToken = admin.logIn.token;

  await call(
    '4. The admin lists the pending reservations, a page of 5',
    `query Pending($first: Int) { reservations(status: PENDING, first: $first) { totalCount edges { cursor node { reference partySize customer { displayName } } } pageInfo { hasNextPage endCursor } } }`,
    { first: 5 },
    adminToken,
  );

  await call(
    '5. The admin confirms it (the customer is emailed; it will complete itself after its start)',
    `mutation Confirm($id: ID!) { confirmReservation(id: $id) { reference status } }`,
    { id },
    adminToken,
  );

  const cancelled = await call(
    '6. The customer cancels it, with a reason (they are emailed)',
    `mutation Cancel($id: ID!, $reason: String) { cancelReservation(id: $id, reason: $reason) { reference status cancellationReason history { from to actor at } } }`,
    { id, reason: 'Change of plans' },
    customerToken,
  );

  console.log(`\nDone: reservation ${cancelled.cancelReservation.reference} went ${cancelled.cancelReservation.history.map((e) => e.to).join(' → ')}.`);
  console.log('Without a SendGrid key the three emails are JSON files in ./.data/outbox/.');
}

main().catch((err) => {
  console.error(`\ntry-it: ${err.message}`);
  process.exit(1);
});
