// A graphql-ws connection lives as long as its right to: closed with 4401 when its token expires, and with 4403
// within AUTH_RECHECK_INTERVAL (here 1 second) when its user is deleted or demoted from admin; nothing is delivered
// to it after that. Connections that keep their right stay open (each test has one beside it, which keeps receiving).
import { Types } from 'mongoose';
import { User } from '../src/models/user.js';
import { Role } from '../src/models/status.js';
import { logIn } from './support/graphql.js';
import {
  connectLive,
  createReservation,
  hasEvent,
  resultsForEvent,
  STATUS_CHANGED,
  untilSubscribed,
  type Change,
  type LiveConnection,
  type LiveSubscription,
} from './support/live.js';
import { startStack, type InProcessApi, type Session, type TestStack } from './support/stack.js';

const PASSWORD = 'correct horse battery';
let stack: TestStack;
/** An API server issuing 3-second tokens (JWT_TTL), on the same database and secret. */
let shortLived: InProcessApi;
const connections: LiveConnection[] = [];

beforeAll(async () => {
  stack = await startStack({ prefix: 'liveauth', env: { AUTH_RECHECK_INTERVAL: '1 second' } });
  shortLived = await stack.startApi({ JWT_TTL: '3 seconds' });
});
afterEach(async () => {
  await Promise.all(connections.splice(0).map((c) => c.dispose()));
});
afterAll(async () => {
  await shortLived?.stop();
  await stack?.stop();
});

function open(token: string): LiveConnection {
  const connection = connectLive(stack.url, token);
  connections.push(connection);
  return connection;
}

/** A subscription to every change the token's user may see, on its own connection. */
async function watch(token: string): Promise<{ connection: LiveConnection; sub: LiveSubscription<Change> }> {
  const connection = open(token);
  await connection.accepted;
  return { connection, sub: connection.subscribe<Change>(STATUS_CHANGED) };
}

/** Makes a change (a reservation by `customer`) and waits until `witness` received it. */
async function changeSeenBy(witness: LiveSubscription<Change>, customer: Session): Promise<string> {
  const { eventId } = await createReservation(stack.url, customer.token);
  await witness.waitFor(hasEvent(eventId), 'the change to reach the subscription that is still allowed', 10_000);
  return eventId;
}

test('a subscription whose 3-second token expires is closed with 4401 and receives nothing after', async () => {
  const customer = await stack.signUp();
  const admin = await stack.admin();
  const { token } = await logIn(shortLived.url, customer.email, PASSWORD);

  const expiring = await watch(token);
  const witness = await watch(admin.token);
  // It works while the token is valid: it receives its customer's changes.
  await untilSubscribed([expiring.sub, witness.sub], stack.url, customer.token);

  await expect(expiring.connection.closed).resolves.toEqual({ code: 4401, reason: 'Token expired' });
  const received = expiring.sub.results.length;
  expect(received).toBeGreaterThan(0);

  const after = await changeSeenBy(witness.sub, customer);
  expect(resultsForEvent(expiring.sub.results, after)).toEqual([]);
  expect(expiring.sub.results).toHaveLength(received);
});

test('an admin demoted while subscribed to every change is closed with 4403 within the re-check interval', async () => {
  const customer = await stack.signUp();
  const demoted = await stack.admin();
  const stillAdmin = await stack.admin();

  const admins = await watch(demoted.token);
  const witness = await watch(stillAdmin.token);
  const own = await watch(customer.token);
  await untilSubscribed([admins.sub, witness.sub, own.sub], stack.url, customer.token);

  await User.updateOne({ _id: new Types.ObjectId(demoted.id) }, { role: Role.CUSTOMER });
  await expect(admins.connection.closed).resolves.toEqual({ code: 4403, reason: 'Forbidden: no longer an admin' });
  const received = admins.sub.results.length;

  const after = await changeSeenBy(witness.sub, customer);
  expect(resultsForEvent(admins.sub.results, after)).toEqual([]);
  expect(admins.sub.results).toHaveLength(received);
  // The customer's own connection passed the same re-checks and still receives.
  await own.sub.waitFor(hasEvent(after), "the customer's own change");
});

test("a deleted user's subscription is closed with 4403 within the re-check interval", async () => {
  const customer = await stack.signUp();
  const other = await stack.signUp();
  const admin = await stack.admin();

  const deleted = await watch(customer.token);
  const witness = await watch(admin.token);
  await untilSubscribed([deleted.sub, witness.sub], stack.url, customer.token);

  await User.deleteOne({ _id: new Types.ObjectId(customer.id) });
  await expect(deleted.connection.closed).resolves.toEqual({ code: 4403, reason: 'Forbidden: the account no longer exists' });
  const received = deleted.sub.results.length;

  const after = await changeSeenBy(witness.sub, other);
  expect(resultsForEvent(deleted.sub.results, after)).toEqual([]);
  expect(deleted.sub.results).toHaveLength(received);
});

test('a customer promoted to admin keeps the connection it has (its token still says what it may see)', async () => {
  const promoted = await stack.signUp();
  const probe = await stack.signUp();
  const own = await watch(promoted.token);
  const probed = await watch(probe.token);
  await untilSubscribed([own.sub], stack.url, promoted.token);

  await User.updateOne({ _id: new Types.ObjectId(promoted.id) }, { role: Role.ADMIN });
  // A re-check has run since the promotion once the probe's user, deleted after it, has had its connection closed.
  await User.deleteOne({ _id: new Types.ObjectId(probe.id) });
  await expect(probed.connection.closed).resolves.toMatchObject({ code: 4403 });

  const after = await changeSeenBy(own.sub, promoted);
  expect(resultsForEvent(own.sub.results, after)).toHaveLength(1);
  expect(await Promise.race([own.connection.closed, Promise.resolve('open')])).toBe('open');
});
