// Webhooks end to end: endpoints made by an admin over GraphQL, a real worker process delivering, and a real
// receiver (support/webhook-receiver.ts) that verifies every request with the `standardwebhooks` library, as a
// customer's system would.
import { Reservation } from '../src/models/reservation.js';
import { pollUntil } from './support/poll.js';
import { killLeftoverWorkers, startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { startSendGridStub, type SendGridStub } from './support/sendgrid-stub.js';
import { baseEnv, codeOf, startStack, type Session, type TestStack } from './support/stack.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from './support/webhook-receiver.js';
import { ALL_EVENTS, CREATE_ENDPOINT, deleteEndpoint, deliveriesOf, ENDPOINT_FIELDS, subscribe } from './support/webhooks.js';

const CONFIRM = 'mutation($id: ID!) { confirmReservation(id: $id) { id status } }';
const MARK_NO_SHOW = 'mutation($id: ID!) { markNoShow(id: $id) { id status } }';
const CANCEL = 'mutation($id: ID!, $reason: String) { cancelReservation(id: $id, reason: $reason) { id status } }';
const ROTATE = `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { ${ENDPOINT_FIELDS} } } }`;
const REDELIVER = 'mutation($id: ID!) { redeliverWebhook(id: $id) { id webhookId status attempts { statusCode } } }';
const ENDPOINTS = `{ webhookEndpoints { ${ENDPOINT_FIELDS} } }`;

let stub: SendGridStub;
let stack: TestStack;
let worker: Proc;
let admin: Session;
let customer: Session;
const receivers: WebhookReceiver[] = [];
const endpoints: string[] = [];

beforeAll(async () => {
  stub = await startSendGridStub();
  const env = {
    SENDGRID_API_KEY: stub.apiKey,
    SENDGRID_API_BASE_URL: stub.url,
    // The receivers listen on 127.0.0.1.
    WEBHOOK_ALLOW_PRIVATE_URLS: 'true',
    WEBHOOK_TIMEOUT: '1 second',
    WEBHOOK_RETRY_SCHEDULE: Array(8).fill('1 second').join(', '),
    WEBHOOK_DISABLE_AFTER: '6 seconds',
    WEBHOOK_SECRET_OVERLAP: '4 seconds',
    COMPLETION_SWEEP_INTERVAL: '1 hour',
  };
  stack = await startStack({ prefix: 'webhooks', env });
  worker = await startWorkerProcess(baseEnv(stack.mongoUri, env));
  [admin, customer] = await Promise.all([stack.admin(), stack.signUp()]);
}, 90_000);

afterAll(async () => {
  await stopProcess(worker);
  await killLeftoverWorkers();
  await Promise.all(receivers.map((r) => r.close()));
  await stack.stop();
  await stub.close();
});

// Each test's endpoints are removed after it, so the next test's changes go to its own receivers only.
afterEach(async () => {
  for (const id of endpoints.splice(0)) await deleteEndpoint(stack.url, admin.token, id);
});

async function receiver(): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver();
  receivers.push(r);
  return r;
}

async function endpointFor(r: WebhookReceiver, events: string[] = ALL_EVENTS): Promise<string> {
  const id = await subscribe(stack.url, admin.token, r, events);
  endpoints.push(id);
  return id;
}

const about = (reservationId: string) => (w: ReceivedWebhook) => w.payload.data.reservation.id === reservationId;

/** Resolves once the endpoint has `count` deliveries and none is PENDING: everything it will receive has been received. */
const settled = (endpointId: string, count = 1) =>
  pollUntil(
    () => deliveriesOf(stack.url, admin.token, endpointId),
    (all) => all.length >= count && all.every((d) => d.status !== 'PENDING'),
    `the deliveries of endpoint ${endpointId} to finish`,
    30_000,
  );

test('every change arrives once, verified, in order, with the payload and headers; only subscribed events', async () => {
  const [all, cancelsOnly] = [await receiver(), await receiver()];
  const allId = await endpointFor(all);
  const cancelsId = await endpointFor(cancelsOnly, ['RESERVATION_CANCELLED']);
  const r = await stack.createReservation(customer.token, { notes: 'window seat' });
  expect(codeOf(await stack.gql(CONFIRM, { id: r.id }, admin.token))).toBeUndefined();
  expect(codeOf(await stack.gql(CANCEL, { id: r.id, reason: 'kitchen closed' }, admin.token))).toBeUndefined();

  await settled(allId, 3);
  await settled(cancelsId, 1);
  const got = all.received.filter(about(r.id));
  expect(got.map((w) => w.payload.type)).toEqual(['reservation.created', 'reservation.confirmed', 'reservation.cancelled']);
  expect(new Set(got.map((w) => w.webhookId)).size).toBe(3);
  expect(all.rejected).toEqual([]);
  const [created, confirmed, cancelled] = got as [ReceivedWebhook, ReceivedWebhook, ReceivedWebhook];
  expect(created.webhookId).toMatch(/^msg_[0-9a-f]{24}$/);
  expect(Number(created.timestamp)).toBeGreaterThan(0);
  expect(created.signature).toMatch(/^v1,[A-Za-z0-9+/=]+$/);
  // The reservation as each change left it, with the GraphQL type's fields; the event that made the change.
  expect(created.payload.data.reservation).toMatchObject({ id: r.id, reference: r.reference, status: 'PENDING', partySize: 2, notes: 'window seat' });
  expect(created.payload.data.reservation.customer).toMatchObject({ id: customer.id, email: customer.email });
  expect(created.payload.data.event).toMatchObject({ from: null, to: 'PENDING' });
  expect(confirmed.payload.data.reservation.status).toBe('CONFIRMED');
  expect(confirmed.payload.data.event).toMatchObject({ from: 'PENDING', to: 'CONFIRMED', actor: `admin:${admin.id}` });
  expect(cancelled.payload.data).toMatchObject({
    reservation: { status: 'CANCELLED', cancellationReason: 'kitchen closed' },
    event: { from: 'CONFIRMED', to: 'CANCELLED', reason: 'kitchen closed' },
  });
  expect(cancelled.payload.timestamp).toBe(cancelled.payload.data.event.at);
  expect(JSON.stringify(got)).not.toMatch(/password/i);
  // The cancellations-only endpoint: the cancellation, nothing else.
  expect(cancelsOnly.received.filter(about(r.id)).map((w) => w.payload.type)).toEqual(['reservation.cancelled']);
}, 60_000);

test('a no-show is delivered as reservation.no_show', async () => {
  const r0 = await receiver();
  const id = await endpointFor(r0, ['RESERVATION_NO_SHOW']);
  const r = await stack.createReservation(customer.token);
  // The API takes only future start times; a no-show needs a started one.
  await Reservation.updateOne({ _id: r.id }, { $set: { startTime: new Date() } });
  expect(codeOf(await stack.gql(CONFIRM, { id: r.id }, admin.token))).toBeUndefined();
  expect(codeOf(await stack.gql(MARK_NO_SHOW, { id: r.id }, admin.token))).toBeUndefined();
  await settled(id, 1);
  const got = r0.received.filter(about(r.id));
  expect(got.map((w) => [w.payload.type, w.payload.data.reservation.status])).toEqual([['reservation.no_show', 'NO_SHOW']]);
  expect(got[0]!.payload.data.event).toMatchObject({ from: 'CONFIRMED', to: 'NO_SHOW', actor: `admin:${admin.id}` });
}, 60_000);

test('a later change waits while an earlier one to the same endpoint is being retried', async () => {
  const r1 = await receiver();
  const id = await endpointFor(r1);
  let createdAnswers = 0;
  r1.answer = (w) => (w.payload.type === 'reservation.created' && createdAnswers++ < 2 ? { status: 503 } : { status: 200 });
  const r = await stack.createReservation(customer.token);
  await r1.waitFor(1, about(r.id));
  await stack.gql(CONFIRM, { id: r.id }, admin.token);
  await settled(id, 2);
  expect(r1.received.filter(about(r.id)).map((w) => w.payload.type)).toEqual([
    'reservation.created',
    'reservation.created',
    'reservation.created',
    'reservation.confirmed',
  ]);
}, 60_000);

test('a receiver failing twice then succeeding gets the same webhook-id three times; the log shows three attempts', async () => {
  const r1 = await receiver();
  const id = await endpointFor(r1, ['RESERVATION_CREATED']);
  let calls = 0;
  r1.answer = () => (++calls <= 2 ? { status: 500, body: 'database down' } : { status: 200, body: 'ok' });
  const r = await stack.createReservation(customer.token);
  const got = await r1.waitFor(3, about(r.id));
  expect(new Set(got.map((w) => w.webhookId)).size).toBe(1);
  const [delivery] = await settled(id);
  expect(delivery).toMatchObject({ webhookId: got[0]!.webhookId, eventType: 'RESERVATION_CREATED', status: 'DELIVERED', reservationId: r.id });
  expect(delivery.attempts.map((a: any) => [a.statusCode, a.response])).toEqual([
    [500, 'database down'],
    [500, 'database down'],
    [200, 'ok'],
  ]);
  for (const a of delivery.attempts) expect(a.durationMs).toBeGreaterThanOrEqual(0);
  expect(r1.received).toHaveLength(3);
}, 60_000);

test('410 Gone disables the endpoint: no more deliveries to it', async () => {
  const r1 = await receiver();
  const id = await endpointFor(r1);
  r1.answer = () => ({ status: 410 });
  const r = await stack.createReservation(customer.token);
  await settled(id);
  const endpoint = (await stack.gql(ENDPOINTS, {}, admin.token)).data.webhookEndpoints.find((e: any) => e.id === id);
  expect(endpoint).toMatchObject({ enabled: false, disabledReason: 'the receiver answered 410 Gone' });
  expect((await deliveriesOf(stack.url, admin.token, id))[0]).toMatchObject({ status: 'FAILED', attempts: [{ statusCode: 410 }] });
  // A later change: not delivered (its delivery is never made: the endpoint is disabled).
  const other = await receiver();
  const watcher = await endpointFor(other);
  await stack.gql(CONFIRM, { id: r.id }, admin.token);
  await other.waitFor(1, (w) => about(r.id)(w) && w.payload.type === 'reservation.confirmed');
  await settled(watcher);
  expect(r1.received).toHaveLength(1);
}, 60_000);

test('a hanging receiver times out (WEBHOOK_TIMEOUT) and is retried with the same webhook-id', async () => {
  const r1 = await receiver();
  const id = await endpointFor(r1, ['RESERVATION_CREATED']);
  let calls = 0;
  r1.answer = () => (++calls === 1 ? 'hang' : { status: 204 });
  const r = await stack.createReservation(customer.token);
  const got = await r1.waitFor(2, about(r.id));
  expect(got[1]!.webhookId).toBe(got[0]!.webhookId);
  const [delivery] = await settled(id);
  expect(delivery.status).toBe('DELIVERED');
  expect(delivery.attempts).toHaveLength(2);
  expect(delivery.attempts[0]).toMatchObject({ statusCode: null, error: 'timed out after 1000 ms' });
  expect(delivery.attempts[1]).toMatchObject({ statusCode: 204, error: null });
}, 60_000);

test('redeliverWebhook sends a delivery again with the same webhook-id', async () => {
  const r1 = await receiver();
  const id = await endpointFor(r1, ['RESERVATION_CREATED']);
  const r = await stack.createReservation(customer.token);
  const [first] = await r1.waitFor(1, about(r.id));
  const [delivery] = await settled(id);
  const redelivered = await stack.gql(REDELIVER, { id: delivery.id }, admin.token);
  expect(redelivered.data.redeliverWebhook).toMatchObject({ id: delivery.id, webhookId: first!.webhookId, status: 'PENDING' });
  const got = await r1.waitFor(2, about(r.id));
  expect(got.map((w) => w.webhookId)).toEqual([first!.webhookId, first!.webhookId]);
  const [after] = await settled(id);
  expect(after.attempts.map((a: any) => a.statusCode)).toEqual([204, 204]);
  // Unknown and malformed ids.
  expect(codeOf(await stack.gql(REDELIVER, { id: '0123456789abcdef01234567' }, admin.token))).toBe('NOT_FOUND');
  expect(codeOf(await stack.gql(REDELIVER, { id: 'nope' }, admin.token))).toBe('BAD_USER_INPUT');
}, 60_000);

test('after rotateWebhookSecret both secrets verify during WEBHOOK_SECRET_OVERLAP, then only the new one', async () => {
  const r1 = await receiver();
  const id = await endpointFor(r1, ['RESERVATION_CREATED']);
  const rotated = await stack.gql(ROTATE, { id }, admin.token);
  const rotatedBy = Date.now();
  const secret = rotated.data.rotateWebhookSecret.secret as string;
  expect(secret).toMatch(/^whsec_/);
  expect(secret).not.toBe(r1.secrets[0]);
  r1.secrets.push(secret);
  const during = await stack.createReservation(customer.token);
  const [signedTwice] = await r1.waitFor(1, about(during.id));
  expect(signedTwice!.verifiedWith).toEqual([0, 1]);
  expect(signedTwice!.signature.split(' ')).toHaveLength(2);
  // Past the overlap (4 s here): the old secret no longer signs.
  await pollUntil(async () => Date.now(), (now) => now > rotatedBy + 4_500, 'the overlap to end', 15_000, 250);
  const afterwards = await stack.createReservation(customer.token);
  const [signedOnce] = await r1.waitFor(1, about(afterwards.id));
  expect(signedOnce!.verifiedWith).toEqual([1]);
}, 60_000);

test('an endpoint failing for WEBHOOK_DISABLE_AFTER is disabled and the admin emailed once', async () => {
  const r1 = await receiver();
  const id = await endpointFor(r1, ['RESERVATION_CREATED']);
  r1.answer = () => ({ status: 500 });
  const r = await stack.createReservation(customer.token);
  await settled(id);
  const endpoint = (await stack.gql(ENDPOINTS, {}, admin.token)).data.webhookEndpoints.find((e: any) => e.id === id);
  expect(endpoint.enabled).toBe(false);
  expect(endpoint.disabledReason).toMatch(/^every delivery failed since /);
  const subject = `Webhook endpoint disabled: ${r1.url}`;
  const mails = await pollUntil(async () => stub.messages.filter((m) => m.subject === subject), (m) => m.length === 1, 'the admin email', 20_000);
  expect(mails[0]).toMatchObject({ to: 'owner@restaurant.test' });
  expect(mails[0]!.text).toContain(id);
  expect(r1.received.filter(about(r.id)).length).toBeGreaterThan(1);
}, 60_000);

test('a customer can neither see nor change endpoints or deliveries (FORBIDDEN)', async () => {
  const r1 = await receiver();
  const id = await endpointFor(r1, ['RESERVATION_CREATED']);
  const r = await stack.createReservation(customer.token);
  await r1.waitFor(1, about(r.id));
  const [delivery] = await settled(id);
  const attempts: [string, Record<string, unknown>][] = [
    [ENDPOINTS, {}],
    [CREATE_ENDPOINT, { input: { url: r1.url, events: ['RESERVATION_CREATED'] } }],
    [`mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { enabled: false }) { id } }`, { id }],
    [ROTATE, { id }],
    ['mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }', { id }],
    ['query($id: ID!) { webhookDeliveries(endpointId: $id) { totalCount } }', { id }],
    [REDELIVER, { id: delivery.id }],
  ];
  for (const [query, variables] of attempts) {
    const res = await stack.gql(query, variables, customer.token);
    expect(codeOf(res)).toBe('FORBIDDEN');
    expect(res.data ?? null).toBeNull();
  }
  // Nothing changed: the endpoint is there, enabled, and its secret still signs.
  const endpoint = (await stack.gql(ENDPOINTS, {}, admin.token)).data.webhookEndpoints.find((e: any) => e.id === id);
  expect(endpoint.enabled).toBe(true);
  expect(await deliveriesOf(stack.url, admin.token, id)).toHaveLength(1);
}, 60_000);

test('webhookDeliveries pages newest first and filters by status', async () => {
  const r1 = await receiver();
  const id = await endpointFor(r1, ['RESERVATION_CREATED']);
  for (const notes of ['a', 'b', 'c']) await stack.createReservation(customer.token, { notes });
  await settled(id, 3);
  const all = await deliveriesOf(stack.url, admin.token, id);
  expect(all).toHaveLength(3);
  const page = await stack.gql(
    'query($id: ID!) { webhookDeliveries(endpointId: $id, first: 2) { totalCount pageInfo { hasNextPage endCursor } nodes { id } } }',
    { id },
    admin.token,
  );
  expect(page.data.webhookDeliveries.totalCount).toBe(3);
  expect(page.data.webhookDeliveries.pageInfo.hasNextPage).toBe(true);
  expect(page.data.webhookDeliveries.nodes.map((n: any) => n.id)).toEqual(all.slice(0, 2).map((d) => d.id));
  expect(await deliveriesOf(stack.url, admin.token, id, 'FAILED')).toEqual([]);
  expect((await deliveriesOf(stack.url, admin.token, id, 'DELIVERED')).length).toBe(3);
}, 60_000);

test('updateWebhookEndpoint changes the events, the description and enabled; re-enabling clears the reason', async () => {
  const r1 = await receiver();
  const id = await endpointFor(r1, ['RESERVATION_CREATED']);
  const UPDATE = `mutation($id: ID!, $input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $input) { ${ENDPOINT_FIELDS} } }`;
  const off = await stack.gql(UPDATE, { id, input: { enabled: false, events: ['RESERVATION_CONFIRMED'], description: 'POS' } }, admin.token);
  expect(off.errors).toBeUndefined();
  expect(off.data.updateWebhookEndpoint).toMatchObject({ enabled: false, events: ['RESERVATION_CONFIRMED'], description: 'POS', disabledReason: 'disabled by an admin' });
  const on = await stack.gql(UPDATE, { id, input: { enabled: true } }, admin.token);
  expect(on.data.updateWebhookEndpoint).toMatchObject({ enabled: true, disabledReason: null, events: ['RESERVATION_CONFIRMED'] });
  expect(codeOf(await stack.gql(UPDATE, { id: '0123456789abcdef01234567', input: { enabled: true } }, admin.token))).toBe('NOT_FOUND');
  expect(codeOf(await stack.gql(UPDATE, { id, input: { events: [] } }, admin.token))).toBe('BAD_USER_INPUT');
});
