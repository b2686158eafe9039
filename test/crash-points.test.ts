// A process killed at each step of a status change (the named crash points of src/status/crash-points.ts, armed
// with CRASH_POINT in a test build): after the claim, after the apply, after the hand-over of its effects. What
// was committed still ends applied, with one history event, exactly one email and exactly one live event — the
// rest of the work done afterwards by dispatch-pending-effects on a worker, or by a racing change that finds the
// dead winner's claim.
import { Types } from 'mongoose';
import { AGENDA_COLLECTION, jobIdFor } from '../src/jobs/agenda.js';
import { Reservation } from '../src/models/reservation.js';
import { StatusClaim, type StatusClaimRecord } from '../src/models/status-claim.js';
import mongoose from 'mongoose';
import { connectDatabase, disconnectDatabase } from '../src/db/connect.js';
import { createAdmin, signUp, type Session } from './support/graphql.js';
import { CONFIRM, connectLive, createReservation, hasEvent, STATUS_CHANGED, untilSubscribed, type Change, type LiveConnection, type LiveSubscription } from './support/live.js';
import { pollUntil } from './support/poll.js';
import { killLeftoverWorkers, startApiProcess, startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { startSendGridStub, type SendGridStub } from './support/sendgrid-stub.js';
import { baseEnv, freshDatabaseUri, gql } from './support/stack.js';
import { emailJobsSettled } from './support/worker.js';

const CONFIRMED_SUBJECT = 'Your Reservation is Confirmed!';

let stub: SendGridStub;
let env: (extra?: Record<string, string>) => Record<string, string>;
let observer: Proc & { url: string };
let admin: Session;
let customer: Session;
let conn: LiveConnection;
let feed: LiveSubscription<Change>;

beforeAll(async () => {
  stub = await startSendGridStub();
  const uri = freshDatabaseUri('crash');
  await connectDatabase(uri);
  env = (extra = {}) =>
    baseEnv(uri, {
      SENDGRID_API_KEY: stub.apiKey,
      SENDGRID_API_BASE_URL: stub.url,
      PENDING_EFFECTS_INTERVAL: '1 second',
      PENDING_EFFECTS_AFTER: '1 second',
      COMPLETION_SWEEP_INTERVAL: '1 hour',
      ...extra,
    });
  // The API server that stays up: its subscribers must see every change, whichever process made it.
  observer = await startApiProcess(env());
  [admin, customer] = await Promise.all([createAdmin(observer.url), signUp(observer.url)]);
  conn = connectLive(observer.url, admin.token);
  feed = conn.subscribe<Change>(STATUS_CHANGED, {});
  await untilSubscribed([feed], observer.url, customer.token);
}, 90_000);

afterAll(async () => {
  await killLeftoverWorkers();
  await conn?.dispose();
  await stopProcess(observer);
  await disconnectDatabase();
  await stub.close();
});

/** An API server that kills itself when a change reaches `point`. */
async function doomedApi(point: string): Promise<Proc & { url: string }> {
  return startApiProcess(env({ CRASH_POINT: point }));
}

/**
 * Runs `mutation` on the doomed server and shows it died at its crash point: without answering when the point is
 * before the commit's end; after answering for `after-handover` (the hand-over of a committed change's effects runs
 * once its response is sent).
 */
async function dieDuring(api: Proc & { url: string }, mutation: string, variables: Record<string, unknown>, token: string, point: string) {
  if (point.startsWith('after-handover')) {
    const answered = await gql(api.url, mutation, variables, token);
    expect(answered.errors).toBeUndefined();
  } else {
    await expect(gql(api.url, mutation, variables, token)).rejects.toThrow();
  }
  expect(await api.exited).toBe('SIGKILL');
  expect(api.lines.join('\n')).toContain(`crash point ${point} reached`);
}

/** The live events the observer's subscriber received about a reservation, as `to` statuses. */
const liveTo = (reservationId: string) =>
  feed.results.filter((r) => r.reservationStatusChanged.reservation.id === reservationId).map((r) => r.reservationStatusChanged.event.to);

const emailsAbout = (reference: string) => stub.messages.filter((m) => m.text.includes(reference));

/**
 * Waits until nothing more can arrive about `reservationId`: its claims all dispatched, its email jobs done, and a
 * later change (a marker reservation) received by the subscriber — the feed delivers in order, so an event
 * published before the marker, a duplicate included, has arrived by then.
 */
async function settle(reservationId: string): Promise<void> {
  await pollUntil(
    () => StatusClaim.countDocuments({ reservation: new Types.ObjectId(reservationId), dispatched: false }),
    (n) => n === 0,
    'every claim of the reservation dispatched',
    30_000,
  );
  await emailJobsSettled(30_000);
  const marker = await createReservation(observer.url, customer.token);
  await feed.waitFor(hasEvent(marker.eventId), 'the marker change', 15_000);
}

describe.each(['after-claim', 'after-apply', 'after-handover'])('an API server killed %s of a confirmation', (point) => {
  test('the reservation ends CONFIRMED with one event, one email and one live event', async () => {
    const { reservationId } = await createReservation(observer.url, customer.token);
    const { reference } = (await Reservation.findById(reservationId).lean())!;
    const doomed = await doomedApi(`${point}:CONFIRMED`);
    await dieDuring(doomed, CONFIRM, { id: reservationId }, admin.token, `${point}:CONFIRMED`);

    // What the crash left: the claim always; the status only once it was applied.
    const claim = await StatusClaim.findById(`${reservationId}:1`).lean<StatusClaimRecord>();
    expect(claim).toMatchObject({ dispatched: false, event: { from: 'PENDING', to: 'CONFIRMED', actor: `admin:${admin.id}` } });
    const left = await Reservation.findById(reservationId).lean();
    expect(left!.status).toBe(point === 'after-claim' ? 'PENDING' : 'CONFIRMED');

    const worker = await startWorkerProcess(env());
    try {
      const email = await stub.waitFor(1, 30_000).then(() =>
        pollUntil(async () => emailsAbout(reference).filter((m) => m.subject === CONFIRMED_SUBJECT), (m) => m.length > 0, 'the confirmation email', 30_000),
      );
      await settle(reservationId);

      const done = (await Reservation.findById(reservationId).lean())!;
      expect(done.status).toBe('CONFIRMED');
      expect(done.history.map((e) => [e.from, e.to])).toEqual([[null, 'PENDING'], ['PENDING', 'CONFIRMED']]);
      expect(done.history[1]!._id.equals(claim!.event._id)).toBe(true);
      expect(emailsAbout(reference).filter((m) => m.subject === CONFIRMED_SUBJECT)).toHaveLength(1);
      expect(email[0]!.customArgs.idempotency_key).toBe(claim!.event._id.toString());
      expect(liveTo(reservationId)).toEqual(['PENDING', 'CONFIRMED']);
      // Its completion job, once.
      const completionJobs = await mongoose.connection
        .collection(AGENDA_COLLECTION)
        .countDocuments({ _id: jobIdFor(`complete:${claim!.event._id.toString()}`) });
      expect(completionJobs).toBe(1);
    } finally {
      await stopProcess(worker);
    }
  }, 120_000);
});

test('an API server killed after the claim of a creation: the reservation appears, with one admin email and one live event', async () => {
  const doomed = await doomedApi('after-claim:PENDING');
  const CREATE = `mutation($i: CreateReservationInput!) { createReservation(input: $i) { id } }`;
  const startTime = new Date(Date.now() + 86_400_000).toISOString();
  const before = await Reservation.countDocuments({});
  await dieDuring(doomed, CREATE, { i: { startTime, partySize: 7 } }, customer.token, 'after-claim:PENDING');
  const claim = await StatusClaim.findOne({ version: 0, dispatched: false, 'snapshot.partySize': 7 }).lean();
  expect(claim).not.toBeNull();
  const reservationId = claim!.reservation.toString();
  expect(await Reservation.countDocuments({})).toBe(before); // claimed, not yet stored

  const worker = await startWorkerProcess(env());
  try {
    const stored = await pollUntil(() => Reservation.findById(reservationId).lean(), (r) => r !== null, 'the reservation', 30_000);
    await pollUntil(
      async () => emailsAbout(stored!.reference).length,
      (n) => n > 0,
      'the admin email',
      30_000,
    );
    await settle(reservationId);
    expect(stored!.partySize).toBe(7);
    expect(stored!.history.map((e) => e.to)).toEqual(['PENDING']);
    expect(emailsAbout(stored!.reference).map((m) => m.subject)).toEqual([`🔔 New Reservation #${stored!.reference} - Action Required`]);
    expect(liveTo(reservationId)).toEqual(['PENDING']);
  } finally {
    await stopProcess(worker);
  }
}, 120_000);

test('a cancel racing a confirmation whose server died after its claim finishes the confirmation first, then cancels', async () => {
  const { reservationId } = await createReservation(observer.url, customer.token);
  const { reference } = (await Reservation.findById(reservationId).lean())!;
  const doomed = await doomedApi('after-claim:CONFIRMED');
  await dieDuring(doomed, CONFIRM, { id: reservationId }, admin.token, 'after-claim:CONFIRMED');

  // No worker runs yet: only the cancel itself can finish the dead server's confirmation (it waits for the
  // winner of version 1 to apply it, then applies it for it).
  const CANCEL = `mutation($id: ID!) { cancelReservation(id: $id, reason: "double booking") { status history { from to actor } } }`;
  const cancelled = await gql(observer.url, CANCEL, { id: reservationId }, customer.token);
  expect(cancelled.errors).toBeUndefined();
  expect(cancelled.data.cancelReservation).toEqual({
    status: 'CANCELLED',
    history: [
      { from: null, to: 'PENDING', actor: `customer:${customer.id}` },
      { from: 'PENDING', to: 'CONFIRMED', actor: `admin:${admin.id}` },
      { from: 'CONFIRMED', to: 'CANCELLED', actor: `customer:${customer.id}` },
    ],
  });

  const worker = await startWorkerProcess(env());
  try {
    await pollUntil(async () => emailsAbout(reference).length, (n) => n >= 3, 'the three emails', 30_000);
    await settle(reservationId);
    expect(emailsAbout(reference).map((m) => m.subject).sort()).toEqual(
      [`🔔 New Reservation #${reference} - Action Required`, CONFIRMED_SUBJECT, 'Your Reservation has been Cancelled'].sort(),
    );
    expect(liveTo(reservationId)).toEqual(['PENDING', 'CONFIRMED', 'CANCELLED']);
  } finally {
    await stopProcess(worker);
  }
}, 120_000);
