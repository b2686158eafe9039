// The losers of a race leave no trace: of changes racing on one reservation across two API server processes,
// exactly one wins; every other gets INVALID_TRANSITION and causes no live event and no email (README, "The API").
// A worker sends the emails to the SendGrid stub; admins are subscribed on both servers.
import { connectDatabase, disconnectDatabase } from '../src/db/connect.js';
import { EmailDelivery } from '../src/mail/deliver.js';
import { Reservation } from '../src/models/reservation.js';
import {
  CANCEL,
  type Change,
  changeStatus,
  connectLive,
  createReservation,
  hasEvent,
  type LiveConnection,
  type LiveSubscription,
  STATUS_CHANGED,
  untilSubscribed,
} from './support/live.js';
import { createAdmin, signUp, type Session } from './support/graphql.js';
import { pollUntil } from './support/poll.js';
import { startApiProcess, startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { startSendGridStub, type SendGridStub } from './support/sendgrid-stub.js';
import { baseEnv, freshDatabaseUri, gql, type GqlResult } from './support/stack.js';
import { emailJobsSettled } from './support/worker.js';

type Api = Proc & { url: string };

const CONFIRM = `mutation($id: ID!) { confirmReservation(id: $id) { id status history { id } } }`;
const CANCEL_WITH_REASON = `mutation($id: ID!, $reason: String) { cancelReservation(id: $id, reason: $reason) { id status history { id } } }`;

let stub: SendGridStub;
let api1: Api;
let api2: Api;
let worker: Proc;
let admin: Session;
let alice: Session;
const connections: LiveConnection[] = [];

beforeAll(async () => {
  stub = await startSendGridStub();
  const uri = freshDatabaseUri('losers');
  const env = baseEnv(uri, { LOG_LEVEL: 'info', SENDGRID_API_KEY: stub.apiKey, SENDGRID_API_BASE_URL: stub.url });
  await connectDatabase(uri);
  [api1, api2, worker] = await Promise.all([startApiProcess(env), startApiProcess(env), startWorkerProcess(env)]);
  [admin, alice] = await Promise.all([createAdmin(api1.url), signUp(api2.url)]);
}, 90_000);

afterEach(async () => {
  await Promise.all(connections.splice(0).map((c) => c.dispose()));
});

afterAll(async () => {
  await Promise.all([stopProcess(api1), stopProcess(api2), stopProcess(worker)]);
  await disconnectDatabase();
  await stub.close();
});

/** Admin subscriptions on both servers, receiving changes before the test makes its own. */
async function adminsOnBothServers(): Promise<LiveSubscription<Change>[]> {
  const subs = [api1, api2].map((api) => {
    const c = connectLive(api.url, admin.token);
    connections.push(c);
    return c.subscribe<Change>(STATUS_CHANGED);
  });
  await untilSubscribed(subs, api1.url, alice.token);
  return subs;
}

/** A new reservation whose creation has been pushed to `subs` and emailed to the admin: nothing of it is pending. */
async function settledReservation(subs: LiveSubscription<Change>[]) {
  const created = await createReservation(api1.url, alice.token);
  await Promise.all(subs.map((s) => s.waitFor(hasEvent(created.eventId), 'the creation', 15_000)));
  await pollUntil(async () => emailsAbout(created.eventId), (m) => m.length === 1, 'the admin email', 30_000);
  await emailJobsSettled(30_000);
  return created;
}

const emailsAbout = (eventId: string) => stub.messages.filter((m) => m.customArgs.idempotency_key === eventId);
const eventsOf = (sub: LiveSubscription<Change>, reservationId: string) =>
  sub.results.filter((r) => r.reservationStatusChanged.reservation.id === reservationId).map((r) => r.reservationStatusChanged.event.id);

/**
 * What the race left, once a later change (`close`, returning its event id) has reached every subscriber and every
 * email job has run: anything a loser caused would have arrived by then.
 */
async function aftermath(subs: LiveSubscription<Change>[], reservationId: string, close: () => Promise<string>) {
  const closing = await close();
  await Promise.all(subs.map((s) => s.waitFor(hasEvent(closing), 'the closing change', 15_000)));
  await emailJobsSettled(30_000);
  const stored = await Reservation.findById(reservationId).lean();
  return { stored: stored!, historyIds: stored!.history.map((e) => e._id.toString()) };
}

const invalidTransition = (status: string, to: string) =>
  expect.objectContaining({ extensions: expect.objectContaining({ code: 'INVALID_TRANSITION', status, to }) });

test('10 confirmations racing on two servers: one wins; the 9 losers get INVALID_TRANSITION, no live event, no email', async () => {
  const subs = await adminsOnBothServers();
  const created = await settledReservation(subs);

  const results: GqlResult[] = await Promise.all(
    Array.from({ length: 10 }, (_, i) => gql((i % 2 ? api2 : api1).url, CONFIRM, { id: created.reservationId }, admin.token)),
  );
  const winners = results.filter((r) => !r.errors);
  const losers = results.filter((r) => r.errors);
  expect(winners).toHaveLength(1);
  expect(losers.map((r) => [r.errors, r.data])).toEqual(Array(9).fill([[invalidTransition('CONFIRMED', 'CONFIRMED')], null]));
  const confirmation = winners[0]!.data.confirmReservation.history.at(-1).id as string;
  await pollUntil(async () => emailsAbout(confirmation), (m) => m.length === 1, 'the confirmation email', 30_000);

  const cancel = async () => (await changeStatus(api2.url, CANCEL, { id: created.reservationId }, admin.token)).eventId;
  const { stored, historyIds } = await aftermath(subs, created.reservationId, cancel);
  expect(stored.history.map((e) => e.to)).toEqual(['PENDING', 'CONFIRMED', 'CANCELLED']);
  expect(historyIds.slice(0, 2)).toEqual([created.eventId, confirmation]);
  // Every subscriber saw each of the three changes once: nothing from the losers.
  for (const sub of subs) {
    expect(eventsOf(sub, created.reservationId)).toEqual(historyIds);
    expect(sub.errors).toEqual([]);
  }
  // One email per change (admin, confirmed, cancelled), one delivery record each: nothing from the losers.
  const mine = stub.messages.filter((m) => historyIds.includes(m.customArgs.idempotency_key!));
  expect(mine.map((m) => [m.customArgs.idempotency_key, m.subject])).toEqual([
    [historyIds[0], expect.stringMatching(/^🔔 New Reservation #/)],
    [historyIds[1], 'Your Reservation is Confirmed!'],
    [historyIds[2], 'Your Reservation has been Cancelled'],
  ]);
  expect(stub.messages.filter((m) => m.text.includes(stored.reference))).toHaveLength(3);
  const deliveries = await EmailDelivery.find({ reservationId: created.reservationId }).lean();
  expect(deliveries.map((d) => [d.key, d.state]).sort()).toEqual(historyIds.map((id) => [id, 'sent']).sort());
}, 90_000);

test("the customer's cancel and an admin's, racing on two servers: one wins; the loser gets INVALID_TRANSITION, no live event, no email", async () => {
  const subs = await adminsOnBothServers();
  const created = await settledReservation(subs);

  const [byCustomer, byAdmin] = await Promise.all([
    gql(api1.url, CANCEL_WITH_REASON, { id: created.reservationId, reason: 'by the customer' }, alice.token),
    gql(api2.url, CANCEL_WITH_REASON, { id: created.reservationId, reason: 'by the admin' }, admin.token),
  ]);
  const [winner, loser] = byCustomer.errors ? [byAdmin, byCustomer] : [byCustomer, byAdmin];
  expect(winner.errors).toBeUndefined();
  expect(winner.data.cancelReservation.status).toBe('CANCELLED');
  expect(loser.errors).toEqual([invalidTransition('CANCELLED', 'CANCELLED')]);
  expect(loser.data).toBeNull();
  const cancellation = winner.data.cancelReservation.history.at(-1).id as string;
  await pollUntil(async () => emailsAbout(cancellation), (m) => m.length === 1, 'the cancellation email', 30_000);

  // CANCELLED is final: another reservation's creation is the later change.
  const another = async () => (await createReservation(api2.url, alice.token)).eventId;
  const { stored, historyIds } = await aftermath(subs, created.reservationId, another);
  expect(stored.history.map((e) => [e.to, e.reason ?? null])).toEqual([
    ['PENDING', null],
    ['CANCELLED', winner === byCustomer ? 'by the customer' : 'by the admin'],
  ]);
  expect(historyIds).toEqual([created.eventId, cancellation]);
  for (const sub of subs) {
    expect(eventsOf(sub, created.reservationId)).toEqual(historyIds);
    expect(sub.errors).toEqual([]);
  }
  expect(stub.messages.filter((m) => m.text.includes(stored.reference)).map((m) => m.customArgs.idempotency_key)).toEqual(historyIds);
  const deliveries = await EmailDelivery.find({ reservationId: created.reservationId }).lean();
  expect(deliveries.map((d) => [d.key, d.state]).sort()).toEqual(historyIds.map((id) => [id, 'sent']).sort());
}, 90_000);
