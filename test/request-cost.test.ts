// What a request costs the database before it is answered, counted from outside the API server: a counting wire
// proxy (support/command-proxy.ts) between the real API server process and the database. The targets are issue
// #14's; `npm run bench` reports the same counts (bench/cost.ts) with the work done after the response and CPU.
import { Types } from 'mongoose';
import { connectDatabase, disconnectDatabase } from '../src/db/connect.js';
import { StatusClaim } from '../src/models/status-claim.js';
import { describeCommands, startCommandProxy, type CommandProxy } from './support/command-proxy.js';
import { createAdmin, gqlTimed, signUp, type Session } from './support/graphql.js';
import { pollUntil } from './support/poll.js';
import { startApiProcess, stopProcess, type Proc } from './support/processes.js';
import { baseEnv, freshDatabaseUri } from './support/stack.js';

const CREATE = `mutation($input: CreateReservationInput!) { createReservation(input: $input) { id reference status history { to } } }`;
const CONFIRM = `mutation($id: ID!) { confirmReservation(id: $id) { id status history { to } } }`;
const CANCEL = `mutation($id: ID!) { cancelReservation(id: $id, reason: "plans changed") { id status cancellationReason } }`;
const LIST = `query { reservations(first: 20) { totalCount nodes { id status customer { id displayName } history { id to actor } } } }`;
const REQUESTS = 5;

let proxy: CommandProxy;
let api: Proc & { url: string };
let customer: Session;
let admin: Session;

beforeAll(async () => {
  const uri = freshDatabaseUri('cost');
  await connectDatabase(uri);
  proxy = await startCommandProxy(uri);
  api = await startApiProcess(baseEnv(proxy.uri));
  customer = await signUp(api.url);
  admin = await createAdmin(api.url);
}, 90_000);

afterAll(async () => {
  await stopProcess(api);
  await proxy.close();
  await disconnectDatabase();
});

/** Every change's effects handed over: what a request leaves to do after its response is done. */
const handedOver = () =>
  pollUntil(() => StatusClaim.countDocuments({ dispatched: false }), (n) => n === 0, 'every change handed over', 30_000, 20);

/** Runs `op` REQUESTS times, one after another; each one's request path as `n: commands`. */
async function requestPaths(op: (i: number) => Promise<{ sentAt: number; answeredAt: number }>): Promise<{ most: number; each: string[] }> {
  const each: string[] = [];
  let most = 0;
  for (let i = 0; i < REQUESTS; i++) {
    const { sentAt, answeredAt } = await op(i);
    const sent = proxy.requestPath(sentAt, answeredAt);
    most = Math.max(most, sent.length);
    each.push(`${sent.length}: ${describeCommands(sent)}`);
    await handedOver();
  }
  return { most, each };
}

const startTime = () => new Date(Date.now() + 86_400_000).toISOString();
const ids: string[] = [];

test('createReservation sends at most 3 database commands before it answers', async () => {
  const paths = await requestPaths(async () => {
    const r = await gqlTimed(api.url, CREATE, { input: { startTime: startTime(), partySize: 2 } }, customer.token);
    expect(r.data.createReservation).toMatchObject({ status: 'PENDING', history: [{ to: 'PENDING' }] });
    ids.push(r.data.createReservation.id);
    return r;
  });
  expect({ most: paths.most <= 3 ? 'at most 3' : paths.most, each: paths.each }).toEqual({ most: 'at most 3', each: paths.each });
  // What it left for after the response was done: its creation claim is marked dispatched.
  expect(await StatusClaim.countDocuments({ reservation: { $in: ids.map((id) => new Types.ObjectId(id)) }, dispatched: true })).toBe(REQUESTS);
});

test('confirmReservation and cancelReservation send at most 4 database commands before they answer', async () => {
  const confirms = await requestPaths(async (i) => {
    const r = await gqlTimed(api.url, CONFIRM, { id: ids[i] }, admin.token);
    expect(r.data.confirmReservation).toMatchObject({ status: 'CONFIRMED', history: [{ to: 'PENDING' }, { to: 'CONFIRMED' }] });
    return r;
  });
  const cancels = await requestPaths(async (i) => {
    const r = await gqlTimed(api.url, CANCEL, { id: ids[i] }, customer.token);
    expect(r.data.cancelReservation).toMatchObject({ status: 'CANCELLED', cancellationReason: 'plans changed' });
    return r;
  });
  for (const paths of [confirms, cancels]) {
    expect({ most: paths.most <= 4 ? 'at most 4' : paths.most, each: paths.each }).toEqual({ most: 'at most 4', each: paths.each });
  }
});

test('a page of 20 reservations with their history and customers takes at most 3 database commands', async () => {
  for (let i = ids.length; i < 20; i++) ids.push((await gqlTimed(api.url, CREATE, { input: { startTime: startTime() } }, customer.token)).data.createReservation.id);
  await handedOver();
  const paths = await requestPaths(async () => {
    const r = await gqlTimed(api.url, LIST, undefined, admin.token);
    expect(r.data.reservations.nodes).toHaveLength(20);
    return r;
  });
  expect({ most: paths.most <= 3 ? 'at most 3' : paths.most, each: paths.each }).toEqual({ most: 'at most 3', each: paths.each });
});

test('concurrent mutations share their hand-over: fewer job inserts than changes, every change handed over once', async () => {
  const CONCURRENT = 16;
  const from = performance.now();
  const created = await Promise.all(
    Array.from({ length: CONCURRENT }, async () => (await gqlTimed(api.url, CREATE, { input: { startTime: startTime(), partySize: 2 } }, customer.token)).data),
  );
  await handedOver();
  const made = created.map((d) => new Types.ObjectId(d.createReservation.id as string));
  // Each change still got its own effects: its claim dispatched, its admin email's job stored (no worker runs here).
  expect(await StatusClaim.countDocuments({ reservation: { $in: made }, dispatched: true })).toBe(CONCURRENT);
  const jobs = await StatusClaim.db.collection('agendaJobs').countDocuments({ name: 'send-new-reservation-admin-notification', 'data.reservationId': { $in: made.map(String) } });
  expect(jobs).toBe(CONCURRENT);
  // One after another, each change's hand-over is one jobs insert (the tests above). Here the changes committed
  // while a hand-over was under way went in the next one, together: 16 changes, fewer inserts.
  const jobInserts = proxy.between(from).filter((c) => c.name === 'insert' && c.collection === 'agendaJobs').length;
  expect(jobInserts).toBeGreaterThanOrEqual(1);
  expect(jobInserts).toBeLessThan(CONCURRENT);
});
