// No-shows: an admin records that a confirmed customer did not come, only once the start time has passed. The
// reservation is then final: its pending completion job is removed (and does nothing if it runs anyway), the sweep
// leaves it alone, no email goes out, and the customer's `noShowCount` counts it.
import mongoose from 'mongoose';
import { AGENDA_COLLECTION, AgendaScheduler, createAgenda, jobIdFor } from '../src/jobs/agenda.js';
import { JOB } from '../src/jobs/names.js';
import { Reservation } from '../src/models/reservation.js';
import { ReservationStatus } from '../src/models/status.js';
import { completionDeadline } from '../src/status/completion.js';
import { connectLive, hasEvent, resultsForEvent, STATUS_CHANGED, untilSubscribed, type Change, type LiveConnection } from './support/live.js';
import { pollUntil } from './support/poll.js';
import { killLeftoverWorkers, startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { startSendGridStub, type SendGridStub } from './support/sendgrid-stub.js';
import { baseEnv, codeOf, startStack, type Session, type TestStack } from './support/stack.js';
import { effectsHandedOver, emailJobsSettled, recurringJob } from './support/worker.js';

const { PENDING, CONFIRMED, NO_SHOW } = ReservationStatus;
const GRACE_MINUTES = 0.05; // 3 seconds
const CONFIRM = `mutation($id: ID!) { confirmReservation(id: $id) { status history { id to } } }`;
const MARK_NO_SHOW = `mutation($id: ID!) { markNoShow(id: $id) { id status history { from to actor } } }`;

let stub: SendGridStub;
let stack: TestStack;
let worker: Proc;
let admin: Session;
let live: LiveConnection;
const jobs = () => mongoose.connection.collection(AGENDA_COLLECTION);

beforeAll(async () => {
  stub = await startSendGridStub();
  const env = {
    SENDGRID_API_KEY: stub.apiKey,
    SENDGRID_API_BASE_URL: stub.url,
    COMPLETION_GRACE_MINUTES: String(GRACE_MINUTES),
    COMPLETION_SWEEP_INTERVAL: '1 second',
  };
  stack = await startStack({ prefix: 'noshow', env });
  worker = await startWorkerProcess(baseEnv(stack.mongoUri, env));
  admin = await stack.admin();
  live = connectLive(stack.url, admin.token);
  await live.accepted;
});

afterAll(async () => {
  await live?.dispose();
  await stopProcess(worker);
  await killLeftoverWorkers();
  await stack?.stop();
  await stub?.close();
});

async function confirm(id: string) {
  const r = await stack.gql(CONFIRM, { id }, admin.token);
  expect(r.errors).toBeUndefined();
  await effectsHandedOver();
  return r.data.confirmReservation as { history: { id: string; to: string }[] };
}

test('before the start: INVALID_TRANSITION and nothing changes; a customer may not at all (FORBIDDEN)', async () => {
  const customer = await stack.signUp();
  const r = await stack.createReservation(customer.token);
  await confirm(r.id);

  const early = await stack.gql(MARK_NO_SHOW, { id: r.id }, admin.token);
  expect(codeOf(early)).toBe('INVALID_TRANSITION');
  expect(early.errors![0]!.message).toBe('A reservation can be marked as a no-show only after its start time');
  const byCustomer = await stack.gql(MARK_NO_SHOW, { id: r.id }, customer.token);
  expect(codeOf(byCustomer)).toBe('FORBIDDEN');

  const stored = await Reservation.findById(r.id).lean();
  expect(stored!.status).toBe(CONFIRMED);
  expect(stored!.history.map((e) => e.to)).toEqual([PENDING, CONFIRMED]);
});

test('after the start: NO_SHOW, pushed live, no email; its completion job is removed and it is never completed', async () => {
  const [customer, other] = await Promise.all([stack.signUp(), stack.signUp()]);
  const sub = live.subscribe<Change>(STATUS_CHANGED);
  await untilSubscribed([sub], stack.url, customer.token);

  const r = await stack.createReservation(customer.token);
  // The API takes only future start times: this one is moved to just now before its confirmation.
  const startTime = new Date();
  await Reservation.updateOne({ _id: r.id }, { $set: { startTime } });
  const confirmed = await confirm(r.id);
  const completionJob = jobIdFor(`complete:${confirmed.history[1]!.id}`);
  expect(await jobs().countDocuments({ _id: completionJob })).toBe(1);

  // Started: with the default CANCELLATION_CUTOFF (0, until the start) the customer can no longer cancel it.
  const late = await stack.gql(`mutation($id: ID!) { cancelReservation(id: $id) { id } }`, { id: r.id }, customer.token);
  expect(codeOf(late)).toBe('CANCELLATION_CLOSED');

  const marked = await stack.gql(MARK_NO_SHOW, { id: r.id }, admin.token);
  expect(marked.errors).toBeUndefined();
  expect(marked.data.markNoShow).toMatchObject({ id: r.id, status: NO_SHOW });
  expect(marked.data.markNoShow.history.at(-1)).toEqual({ from: CONFIRMED, to: NO_SHOW, actor: `admin:${admin.id}` });

  // An effect of the change (handed over just after the answer): the completion job, still waiting, is gone from
  // Agenda's collection.
  await effectsHandedOver();
  expect(await jobs().countDocuments({ _id: completionJob })).toBe(0);
  expect(await jobs().countDocuments({ 'data.reservationId': r.id, name: { $in: [JOB.completeReservation, JOB.sendReservationReminder] } })).toBe(0);

  const stored = await Reservation.findById(r.id).lean();
  const noShowEvent = stored!.history.at(-1)!._id.toString();
  const received = await sub.waitFor(hasEvent(noShowEvent), 'the no-show, live', 10_000);
  expect(resultsForEvent(received, noShowEvent)[0]!.reservationStatusChanged).toMatchObject({
    reservation: { id: r.id, status: NO_SHOW },
    event: { from: CONFIRMED, to: NO_SHOW, actor: `admin:${admin.id}` },
  });

  // Scheduled again by hand, the completion job runs and leaves the reservation alone.
  await new AgendaScheduler(createAgenda(stack.config, stack.db)).schedule([
    {
      name: JOB.completeReservation,
      data: { reservationId: r.id, eventId: confirmed.history[1]!.id },
      runAt: new Date(),
      uniqueKey: `complete:${confirmed.history[1]!.id}`,
    },
  ]);
  await pollUntil(() => jobs().countDocuments({ _id: completionJob }), (n) => n === 0, 'the completion job to run', 30_000);
  // Past its completion deadline, the sweep runs twice more (every second) without touching it.
  await pollUntil(async () => Date.now(), (now) => now > completionDeadline(startTime, GRACE_MINUTES).getTime(), 'the completion deadline');
  const sweptAt = async () => ((await recurringJob(JOB.checkOverdueReservations))?.data?.resultAt as Date | undefined)?.getTime() ?? 0;
  const after = Date.now();
  await pollUntil(sweptAt, (at) => at > after, 'a sweep after the deadline', 30_000);
  const later = await sweptAt();
  await pollUntil(sweptAt, (at) => at > later, 'another sweep', 30_000);
  const final = await Reservation.findById(r.id).lean();
  expect(final!.status).toBe(NO_SHOW);
  expect(final!.history.map((e) => e.to)).toEqual([PENDING, CONFIRMED, NO_SHOW]);

  // No email for a no-show: the admin's and the confirmation are all this reservation got.
  await emailJobsSettled(30_000);
  const emails = stub.messages.filter((m) => m.text.includes(r.reference));
  expect(emails.map((m) => m.subject).sort()).toEqual([`🔔 New Reservation #${r.reference} - Action Required`, 'Your Reservation is Confirmed!'].sort());

  // Final: no second no-show, no cancel.
  expect(codeOf(await stack.gql(MARK_NO_SHOW, { id: r.id }, admin.token))).toBe('INVALID_TRANSITION');

  // Counted for the customer, seen by the customer and by admins; another customer has none.
  const mine = await stack.gql(`{ me { noShowCount } }`, undefined, customer.token);
  expect(mine.data.me).toEqual({ noShowCount: 1 });
  const seenByAdmin = await stack.gql(`query($id: ID!) { reservation(id: $id) { customer { id noShowCount } } }`, { id: r.id }, admin.token);
  expect(seenByAdmin.data.reservation.customer).toEqual({ id: customer.id, noShowCount: 1 });
  const theirs = await stack.gql(`{ me { noShowCount } }`, undefined, other.token);
  expect(theirs.data.me).toEqual({ noShowCount: 0 });
  sub.unsubscribe();
}, 120_000);
