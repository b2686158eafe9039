// Live status updates across processes: two API servers and a worker on one database, real graphql-ws clients.
import { SignJWT } from 'jose';
import { connectDatabase, disconnectDatabase } from '../src/db/connect.js';
import { Reservation } from '../src/models/reservation.js';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../src/schema/auth.js';
import {
  CANCEL,
  CONFIRM,
  type Change,
  changeStatus,
  connectLive,
  createReservation,
  hasEvent,
  type LiveConnection,
  resultsForEvent,
  STATUS_CHANGED,
  untilSubscribed,
} from './support/live.js';
import { createAdmin, signUp, type Session } from './support/graphql.js';
import { startApiProcess, startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { baseEnv, freshDatabaseUri, TEST_JWT_SECRET } from './support/stack.js';

type Api = Proc & { url: string };

let api1: Api;
let api2: Api;
let worker: Proc;
let admin: Session;
let alice: Session;
let bob: Session;
const connections: LiveConnection[] = [];

const create = (session: Session, url = api1.url) => createReservation(url, session.token);

function live(url: string, token?: string): LiveConnection {
  const c = connectLive(url, token);
  connections.push(c);
  return c;
}

beforeAll(async () => {
  const uri = freshDatabaseUri('live');
  await connectDatabase(uri);
  // Info: the processes announce their readiness there. Grace 0: reservations complete at their start time.
  const env = baseEnv(uri, { LOG_LEVEL: 'info', COMPLETION_GRACE_MINUTES: '0' });
  [api1, api2, worker] = await Promise.all([startApiProcess(env), startApiProcess(env), startWorkerProcess(env)]);
  [admin, alice, bob] = await Promise.all([createAdmin(api1.url), signUp(api1.url), signUp(api2.url)]);
}, 90_000);

afterEach(async () => {
  await Promise.all(connections.splice(0).map((c) => c.dispose()));
});

afterAll(async () => {
  await Promise.all([stopProcess(api1), stopProcess(api2), stopProcess(worker)]);
  await disconnectDatabase();
});

describe('connecting', () => {
  test('a connection without a token is refused with 4403 Forbidden', async () => {
    await expect(live(api1.url).closed).resolves.toEqual({ code: 4403, reason: 'Forbidden' });
  });

  test.each([
    ['garbage', async () => 'not-a-jwt'],
    ['signed with another secret', async () => sign({ secret: 'another-secret-0123456789abcdef' })],
    ['expired', async () => sign({ expiresAt: Math.floor(Date.now() / 1000) - 60 })],
  ])('a connection with a bad token (%s) is refused with 4403 Forbidden', async (_name, token) => {
    await expect(live(api1.url, await token()).closed).resolves.toEqual({ code: 4403, reason: 'Forbidden' });
  });

  test('a connection with a valid token is accepted', async () => {
    await expect(live(api2.url, alice.token).accepted).resolves.toBeUndefined();
  });
});

describe('admins', () => {
  test('admins on both servers receive every change made on either, creation included, each exactly once', async () => {
    const subs = [live(api1.url, admin.token), live(api2.url, admin.token)].map((c) => c.subscribe<Change>(STATUS_CHANGED));
    await untilSubscribed(subs, api1.url, bob.token);

    const created = await create(alice, api1.url);
    await Promise.all(subs.map((s) => s.waitFor(hasEvent(created.eventId), 'the creation event')));

    // How fast it arrives is the `fanout` benchmark's; here only that it does, on both servers.
    const confirmed = await changeStatus(api1.url, CONFIRM, { id: created.reservationId }, admin.token);
    await Promise.all(subs.map((s) => s.waitFor(hasEvent(confirmed.eventId), 'the confirmation', 15_000)));

    // Made on the other server; it also closes the stream: anything repeated would have arrived before it.
    const cancelled = await changeStatus(api2.url, CANCEL, { id: created.reservationId }, admin.token);
    await Promise.all(subs.map((s) => s.waitFor(hasEvent(cancelled.eventId), 'the cancellation')));

    for (const sub of subs) {
      const mine = sub.results.filter((r) => r.reservationStatusChanged.reservation.id === created.reservationId);
      expect(mine.map((r) => r.reservationStatusChanged.event)).toEqual([
        { id: created.eventId, from: null, to: 'PENDING', at: expect.any(String), actor: `customer:${alice.id}`, reason: null },
        { id: confirmed.eventId, from: 'PENDING', to: 'CONFIRMED', at: expect.any(String), actor: `admin:${admin.id}`, reason: null },
        { id: cancelled.eventId, from: 'CONFIRMED', to: 'CANCELLED', at: expect.any(String), actor: `admin:${admin.id}`, reason: null },
      ]);
      expect(mine[0]!.reservationStatusChanged.reservation).toMatchObject({
        id: created.reservationId,
        customer: { id: alice.id },
      });
      expect(sub.errors).toEqual([]);
    }
  });

  test('500 subscribers each receive the one event of one change', async () => {
    const subs = Array.from({ length: 500 }, (_, i) => live(i % 2 ? api2.url : api1.url, admin.token)).map((c) =>
      c.subscribe<Change>(STATUS_CHANGED),
    );
    await untilSubscribed(subs, api2.url, bob.token);
    const created = await create(bob, api2.url);
    await Promise.all(subs.map((s) => s.waitFor(hasEvent(created.eventId), 'the creation event')));
    const before = subs.map((s) => s.results.length);

    const confirmed = await changeStatus(api1.url, CONFIRM, { id: created.reservationId }, admin.token);
    await Promise.all(subs.map((s) => s.waitFor(hasEvent(confirmed.eventId), 'the confirmation', 5000)));
    subs.forEach((sub, i) => {
      expect(sub.results.slice(before[i]).map((r) => r.reservationStatusChanged.event.id)).toEqual([confirmed.eventId]);
      expect(sub.errors).toEqual([]);
    });
  });
});

describe('changes made by a worker', () => {
  test('a completion made by the worker reaches admins on both servers and the customer, once', async () => {
    const subs = [live(api1.url, admin.token), live(api2.url, admin.token), live(api2.url, alice.token)].map((c) =>
      c.subscribe<Change>(STATUS_CHANGED),
    );
    await untilSubscribed(subs, api1.url, alice.token);
    // Completion is due at the start time (COMPLETION_GRACE_MINUTES=0): the worker's one-off job makes it. The API
    // takes only future start times, so the start is moved to now before the confirmation schedules that job.
    const created = await createReservation(api1.url, alice.token);
    await Reservation.updateOne({ _id: created.reservationId }, { $set: { startTime: new Date() } });
    await changeStatus(api2.url, CONFIRM, { id: created.reservationId }, admin.token);

    const isCompletion = ({ reservationStatusChanged: { reservation, event } }: Change) =>
      reservation.id === created.reservationId && event.to === 'COMPLETED';
    await Promise.all(subs.map((s) => s.waitFor((results) => results.some(isCompletion), 'the completion', 30_000)));
    const completion = subs[0]!.results.find(isCompletion)!.reservationStatusChanged.event;
    // A later change: anything repeated would have arrived before it.
    const later = await createReservation(api1.url, alice.token);
    await Promise.all(subs.map((s) => s.waitFor(hasEvent(later.eventId), 'a later change')));

    for (const sub of subs) {
      expect(resultsForEvent(sub.results, completion.id).map((r) => r.reservationStatusChanged)).toEqual([
        {
          reservation: expect.objectContaining({ id: created.reservationId, status: 'COMPLETED' }),
          event: expect.objectContaining({ from: 'CONFIRMED', to: 'COMPLETED', actor: 'system:auto-complete' }),
        },
      ]);
    }
  });
});

describe('customers', () => {
  test("a customer receives their own reservations' changes and none of another's, even naming its id", async () => {
    const ownReservation = await create(alice);
    const othersReservation = await create(bob);
    const conn = live(api2.url, alice.token);
    const naming = conn.subscribe<Change>(STATUS_CHANGED, { id: othersReservation.reservationId });
    const own = conn.subscribe<Change>(STATUS_CHANGED, { id: ownReservation.reservationId });
    // Subscribed last on the same connection: once it receives changes, the two above are in place too.
    const everything = conn.subscribe<Change>(STATUS_CHANGED);
    // The positive control: on the same server, the owner naming that reservation receives its changes.
    const ownerConn = live(api2.url, bob.token);
    const ownerNaming = ownerConn.subscribe<Change>(STATUS_CHANGED, { id: othersReservation.reservationId });
    const ownerEverything = ownerConn.subscribe<Change>(STATUS_CHANGED);
    await untilSubscribed([everything], api1.url, alice.token);
    await untilSubscribed([ownerEverything], api1.url, bob.token);

    const othersConfirmed = await changeStatus(api1.url, CONFIRM, { id: othersReservation.reservationId }, admin.token);
    const othersCancelled = await changeStatus(api1.url, CANCEL, { id: othersReservation.reservationId }, bob.token);
    // Alice's own change comes last: by the time it arrives, Bob's two would have.
    const ownConfirmed = await changeStatus(api1.url, CONFIRM, { id: ownReservation.reservationId }, admin.token);
    await everything.waitFor(hasEvent(ownConfirmed.eventId), "Alice's confirmation");
    await own.waitFor(hasEvent(ownConfirmed.eventId), "Alice's confirmation, by id");
    await ownerNaming.waitFor(hasEvent(othersCancelled.eventId), "Bob's cancellation, by its owner");

    const reservationsIn = (sub: { results: Change[] }) => new Set(sub.results.map((r) => r.reservationStatusChanged.reservation.id));
    expect(naming.results).toEqual([]);
    // (Its creation may arrive too: made on the other server just before this one's subscription started.)
    const ownerSaw = ownerNaming.results.map((r) => r.reservationStatusChanged.event.id).filter((id) => id !== othersReservation.eventId);
    expect(ownerSaw).toEqual([othersConfirmed.eventId, othersCancelled.eventId]);
    expect(reservationsIn(ownerNaming)).toEqual(new Set([othersReservation.reservationId]));
    expect(reservationsIn(own)).toEqual(new Set([ownReservation.reservationId]));
    expect(reservationsIn(everything).has(othersReservation.reservationId)).toBe(false);
    expect(resultsForEvent(everything.results, othersConfirmed.eventId)).toEqual([]);
    expect(resultsForEvent(everything.results, othersCancelled.eventId)).toEqual([]);
    for (const sub of [everything, own]) {
      expect(resultsForEvent(sub.results, ownConfirmed.eventId).map((r) => r.reservationStatusChanged.reservation)).toEqual([
        expect.objectContaining({ id: ownReservation.reservationId, status: 'CONFIRMED', customer: expect.objectContaining({ id: alice.id }) }),
      ]);
    }
    for (const sub of [naming, everything, own, ownerNaming]) expect(sub.errors).toEqual([]);
  });
});

describe('subscribing', () => {
  test('queries and mutations are refused over WebSocket: they go to POST /graphql', async () => {
    const conn = live(api1.url, alice.token);
    for (const query of ['{ me { id } }', 'mutation { logIn(email: "a@b.c", password: "whatever1") { token } }']) {
      const sub = conn.subscribe(query);
      await sub.waitFor(() => sub.errors.length > 0, 'an error');
      expect(sub.errors).toEqual([expect.objectContaining({ extensions: { code: 'BAD_REQUEST' } })]);
    }
  });

  test('a subscription gets the validation limits HTTP requests get', async () => {
    const aliases = Array.from({ length: 20 }, (_, i) => `e${i}: event { id }`).join(' ');
    const sub = live(api1.url, alice.token).subscribe(`subscription { reservationStatusChanged { ${aliases} } }`);
    await sub.waitFor(() => sub.errors.length > 0, 'an error');
    expect(sub.errors).toEqual([expect.objectContaining({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })]);
  });

  test('a malformed reservation id is BAD_USER_INPUT', async () => {
    const sub = live(api1.url, alice.token).subscribe<Change>(STATUS_CHANGED, { id: 'nope' });
    await sub.waitFor(() => sub.errors.length > 0, 'an error');
    expect(sub.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) })]);
  });
});

describe('shutdown', () => {
  test('stopping a server closes its WebSockets with 1001 Going Away and exits cleanly', async () => {
    const conn = live(api2.url, admin.token);
    await conn.accepted;
    conn.subscribe(STATUS_CHANGED);
    api2.kill('SIGTERM');
    await expect(conn.closed).resolves.toEqual({ code: 1001, reason: 'Going away' });
    await expect(api2.exited).resolves.toBe(0);
  });
});

function sign(opts: { secret?: string; expiresAt?: number }): Promise<string> {
  return new SignJWT({ role: 'ADMIN' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(admin.id)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(opts.expiresAt ?? Math.floor(Date.now() / 1000) + 600)
    .sign(new TextEncoder().encode(opts.secret ?? TEST_JWT_SECRET));
}
