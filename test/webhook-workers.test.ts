// Webhooks and worker processes: task routing (WORKER_JOBS / --jobs), a worker killed mid-delivery, the address
// check at delivery time, and a hanging endpoint that must not hold up other endpoints or emails.
import mongoose from 'mongoose';
import { AGENDA_COLLECTION, jobIdFor } from '../src/jobs/agenda.js';
import { PER_ENDPOINT_IN_FLIGHT } from '../src/webhooks/delivery.js';
import { pollUntil } from './support/poll.js';
import { killLeftoverWorkers, startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { startSendGridStub, type SendGridStub } from './support/sendgrid-stub.js';
import { baseEnv, startStack, type Session, type TestStack } from './support/stack.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from './support/webhook-receiver.js';
import { deleteEndpoint, deliveriesOf, subscribe } from './support/webhooks.js';

let stub: SendGridStub;
let stack: TestStack;
let admin: Session;
let customer: Session;
let common: Record<string, string>;
const receivers: WebhookReceiver[] = [];
const endpoints: string[] = [];

beforeAll(async () => {
  stub = await startSendGridStub();
  common = {
    SENDGRID_API_KEY: stub.apiKey,
    SENDGRID_API_BASE_URL: stub.url,
    WEBHOOK_ALLOW_PRIVATE_URLS: 'true',
    WEBHOOK_RETRY_SCHEDULE: '1 second, 1 second, 1 second',
    COMPLETION_SWEEP_INTERVAL: '1 hour',
  };
  stack = await startStack({ prefix: 'webhook-workers', env: common });
  [admin, customer] = await Promise.all([stack.admin(), stack.signUp()]);
}, 90_000);

afterAll(async () => {
  await killLeftoverWorkers();
  await Promise.all(receivers.map((r) => r.close()));
  await stack.stop();
  await stub.close();
});

afterEach(async () => {
  await killLeftoverWorkers();
  for (const id of endpoints.splice(0)) await deleteEndpoint(stack.url, admin.token, id);
});

const worker = (extra: Record<string, string> = {}, args: string[] = []) => startWorkerProcess(baseEnv(stack.mongoUri, { ...common, ...extra }), args);

async function receiverWithEndpoint(events = ['RESERVATION_CREATED'], urlOf?: (r: WebhookReceiver) => string): Promise<{ receiver: WebhookReceiver; endpointId: string }> {
  const receiver = await startWebhookReceiver();
  receivers.push(receiver);
  const target = urlOf ? { ...receiver, url: urlOf(receiver) } : receiver;
  const endpointId = await subscribe(stack.url, admin.token, target as WebhookReceiver, events);
  if (urlOf) receiver.secrets.push(...(target as WebhookReceiver).secrets);
  endpoints.push(endpointId);
  return { receiver, endpointId };
}

const about = (reservationId: string) => (w: ReceivedWebhook) => w.payload.data.reservation.id === reservationId;
const job = (key: string) => mongoose.connection.collection(AGENDA_COLLECTION).findOne({ _id: jobIdFor(key) });

/** The worker's /readyz answer (its health port is in its ready line). */
async function readyz(p: Proc): Promise<any> {
  const line = await p.waitForLine(/worker ready/);
  const port = JSON.parse(line).healthPort as number;
  return (await fetch(`http://127.0.0.1:${port}/readyz`)).json();
}

test('a worker started with only `webhooks` delivers webhooks and never sends an email', async () => {
  const { receiver } = await receiverWithEndpoint();
  const p = await worker({ WORKER_JOBS: 'webhooks' });
  expect(await readyz(p)).toMatchObject({ status: 'ready', jobs: ['webhooks'] });
  await p.waitForLine(/running job groups: webhooks"/);
  const r = await stack.createReservation(customer.token);
  await receiver.waitFor(1, about(r.id));
  // Its admin email is still waiting for an email worker: never run, never sent.
  const email = await job(`email:${r.history[0].id}`);
  expect(email).toMatchObject({ name: 'send-new-reservation-admin-notification' });
  expect(email!.lastRunAt ?? null).toBeNull();
  expect(stub.messages.filter((m) => m.text.includes(r.reference))).toEqual([]);
  expect(stub.requestCount).toBe(0);
  // No secret in its logs.
  expect(p.lines.join('\n')).not.toContain(receiver.secrets[0]!.slice('whsec_'.length));
}, 60_000);

test('a worker started with `--jobs email` sends emails and never delivers a webhook', async () => {
  const { receiver } = await receiverWithEndpoint();
  const p = await worker({}, ['--jobs', 'email']);
  expect(await readyz(p)).toMatchObject({ status: 'ready', jobs: ['email'] });
  const r = await stack.createReservation(customer.token);
  await pollUntil(async () => stub.messages.filter((m) => m.text.includes(r.reference)), (m) => m.length === 1, 'the admin email');
  const fanOut = await job(`webhooks:${r.history[0].id}`);
  expect(fanOut).toMatchObject({ name: 'fan-out-webhook' });
  expect(fanOut!.lastRunAt ?? null).toBeNull();
  expect(receiver.requestCount).toBe(0);
}, 60_000);

test('a bad WORKER_JOBS stops the worker with one line naming it', async () => {
  await expect(worker({ WORKER_JOBS: 'webhooks,sms' })).rejects.toThrow(/WORKER_JOBS must be a comma list of email, completion, webhooks, maintenance/);
}, 60_000);

test('a worker killed mid-delivery loses nothing; the receiver sees the webhook-id at most twice', async () => {
  const { receiver, endpointId } = await receiverWithEndpoint();
  // The first request is held open; the worker sending it is killed meanwhile.
  receiver.answer = () => (receiver.received.length === 1 ? 'hang' : { status: 204 });
  const crashEnv = { WORKER_JOBS: 'webhooks', JOB_LOCK_LIFETIME: '3 seconds', WEBHOOK_TIMEOUT: '2 seconds' };
  const doomed = await worker(crashEnv);
  const r = await stack.createReservation(customer.token);
  const [first] = await receiver.waitFor(1, about(r.id));
  expect(await stopProcess(doomed, 'SIGKILL')).toBe('SIGKILL');
  await worker(crashEnv);
  const got = await receiver.waitFor(2, about(r.id), 30_000);
  const [delivery] = await pollUntil(
    () => deliveriesOf(stack.url, admin.token, endpointId),
    (all) => all[0]?.status === 'DELIVERED',
    'the delivery to finish',
    30_000,
  );
  expect(got.map((w) => w.webhookId)).toEqual([first!.webhookId, first!.webhookId]);
  expect(delivery.attempts).toMatchObject([
    { statusCode: null, error: 'the worker stopped before the answer was recorded' },
    { statusCode: 204, error: null },
  ]);
  expect(receiver.received.filter(about(r.id))).toHaveLength(2);
}, 90_000);

test('each delivery checks the address again: a worker without WEBHOOK_ALLOW_PRIVATE_URLS never reaches a private one', async () => {
  const literal = await receiverWithEndpoint();
  const byName = await receiverWithEndpoint(['RESERVATION_CREATED'], (r) => r.url.replace('127.0.0.1', 'localhost'));
  await worker({ WORKER_JOBS: 'webhooks', WEBHOOK_ALLOW_PRIVATE_URLS: 'false' });
  const r = await stack.createReservation(customer.token);
  const firstAttempt = (endpointId: string) =>
    pollUntil(
      () => deliveriesOf(stack.url, admin.token, endpointId),
      (all) => all[0]?.attempts.length > 0 && all[0].attempts[0].error !== 'in progress',
      'a first attempt to finish',
      30_000,
    ).then((all) => all[0].attempts[0]);
  expect((await firstAttempt(literal.endpointId)).error).toBe('127.0.0.1 is not an address webhooks may reach');
  expect((await firstAttempt(byName.endpointId)).error).toMatch(/^localhost resolves to (127\.0\.0\.1|::1), which webhooks may not reach$/);
  expect(literal.receiver.requestCount).toBe(0);
  expect(byName.receiver.requestCount).toBe(0);
  expect(r.id).toBeTruthy();
}, 60_000);

test('a hanging endpoint delays no other endpoint and no email', async () => {
  const slow = await receiverWithEndpoint();
  const fast = await receiverWithEndpoint();
  slow.receiver.answer = () => 'hang';
  // Long enough that no attempt to the slow endpoint ends while the rest is delivered.
  await worker({ WEBHOOK_TIMEOUT: '60 seconds', JOB_LOCK_LIFETIME: '90 seconds' });
  const made: any[] = [];
  for (let i = 0; i < 12; i++) made.push(await stack.createReservation(customer.token));
  const ids = new Set(made.map((r) => r.id));
  await fast.receiver.waitFor(12, (w) => ids.has(w.payload.data.reservation.id), 60_000);
  await pollUntil(
    async () => stub.messages.filter((m) => made.some((r) => m.text.includes(r.reference))),
    (m) => m.length === 12,
    'the 12 admin emails',
    60_000,
  );
  // Meanwhile the slow endpoint got at most its per-endpoint share of this worker, and answered none.
  const slowDeliveries = await deliveriesOf(stack.url, admin.token, slow.endpointId);
  expect(slowDeliveries.every((d) => d.status === 'PENDING' && d.attempts.every((a: any) => a.statusCode === null && a.error === 'in progress'))).toBe(true);
  expect(slow.receiver.requestCount).toBeLessThanOrEqual(PER_ENDPOINT_IN_FLIGHT);
}, 120_000);

test('attempts and finished deliveries older than WEBHOOK_LOG_RETENTION are deleted by clean-webhook-log', async () => {
  const { receiver, endpointId } = await receiverWithEndpoint();
  const p = await worker({ WEBHOOK_LOG_RETENTION: '3 seconds' });
  const r = await stack.createReservation(customer.token);
  await receiver.waitFor(1, about(r.id));
  const logged = await pollUntil(
    () => deliveriesOf(stack.url, admin.token, endpointId),
    (all) => all.length === 1 && all[0].status === 'DELIVERED',
    'the delivery in the log',
  );
  expect(logged[0].attempts).toHaveLength(1);
  await pollUntil(() => deliveriesOf(stack.url, admin.token, endpointId), (all) => all.length === 0, 'the log entry to expire', 30_000, 250);
  expect(await mongoose.connection.collection('webhookAttempts').countDocuments({ delivery: new mongoose.Types.ObjectId(logged[0].id) })).toBe(0);
  await p.waitForLine(/webhook log entries past WEBHOOK_LOG_RETENTION deleted/);
}, 60_000);
