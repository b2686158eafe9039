import { Types } from 'mongoose';
import { Reservation } from '../src/models/reservation.js';
import { codeOf, inOneHour, RESERVATION_FIELDS, startStack, type GqlResult, type Session, type TestStack } from './support/stack.js';

let stack: TestStack;
let alice: Session;
let bob: Session;
let admin: Session;

beforeAll(async () => {
  stack = await startStack({ prefix: 'resv' });
  [alice, bob, admin] = await Promise.all([
    stack.signUp({ firstName: 'Alice' }),
    stack.signUp({ firstName: 'Bob' }),
    stack.admin(),
  ]);
});
afterAll(() => stack.stop());

const CONFIRM = `mutation($id: ID!) { confirmReservation(id: $id) { ${RESERVATION_FIELDS} } }`;
const CANCEL = `mutation($id: ID!, $reason: String) { cancelReservation(id: $id, reason: $reason) { ${RESERVATION_FIELDS} } }`;
const CREATE = `mutation($input: CreateReservationInput!) { createReservation(input: $input) { ${RESERVATION_FIELDS} } }`;
const GET = `query($id: ID!) { reservation(id: $id) { ${RESERVATION_FIELDS} } }`;

async function stored(id: string) {
  return Reservation.findById(id).lean();
}

describe('creating a reservation', () => {
  test('a customer books; it starts PENDING with a reference and a creation event', async () => {
    const startTime = inOneHour();
    const r = await stack.gql(CREATE, { input: { startTime, partySize: 4, notes: 'window seat' } }, alice.token);
    expect(r.errors).toBeUndefined();
    const res = r.data.createReservation;
    expect(res).toMatchObject({ status: 'PENDING', partySize: 4, notes: 'window seat', startTime, cancellationReason: null });
    expect(res.reference).toMatch(/^[0-9A-HJKMNP-TV-Z]{8}$/);
    expect(res.customer).toMatchObject({ id: alice.id, email: alice.email, displayName: 'Alice' });
    expect(res.history).toEqual([{ id: expect.any(String), from: null, to: 'PENDING', at: expect.any(String), actor: `customer:${alice.id}`, reason: null }]);
  });

  test('partySize defaults to 1', async () => {
    const r = await stack.gql(CREATE, { input: { startTime: inOneHour() } }, alice.token);
    expect(r.data.createReservation.partySize).toBe(1);
  });

  test.each([
    ['a start time in the past', { startTime: new Date(Date.now() - 60_000).toISOString() }, 'startTime'],
    ['a party of 0', { partySize: 0 }, 'partySize'],
    ['a party of 51', { partySize: 51 }, 'partySize'],
    ['notes over 1000 characters', { notes: 'x'.repeat(1001) }, 'notes'],
  ])('rejects %s with BAD_USER_INPUT and stores nothing', async (_name, patch, field) => {
    const before = await Reservation.countDocuments();
    const r = await stack.gql(CREATE, { input: { startTime: inOneHour(), partySize: 2, ...patch } }, alice.token);
    expect(codeOf(r)).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(r.errors)).toContain(field);
    expect(await Reservation.countDocuments()).toBe(before);
  });

  test('accepts the bounds: party of 1 and 50, notes of exactly 1000 characters', async () => {
    for (const input of [{ partySize: 1 }, { partySize: 50, notes: 'x'.repeat(1000) }]) {
      const r = await stack.gql(CREATE, { input: { startTime: inOneHour(), ...input } }, alice.token);
      expect(r.errors).toBeUndefined();
    }
  });

  test('a malformed start time is rejected by the DateTimeISO scalar', async () => {
    const r = await stack.gql(CREATE, { input: { startTime: 'tomorrow at noon' } }, alice.token);
    expect(codeOf(r)).toBe('BAD_USER_INPUT');
  });

  test('anonymous creation is UNAUTHENTICATED', async () => {
    const r = await stack.gql(CREATE, { input: { startTime: inOneHour() } });
    expect(codeOf(r)).toBe('UNAUTHENTICATED');
  });
});

describe('the status lifecycle', () => {
  test('PENDING → CONFIRMED by an admin, recorded in history', async () => {
    const res = await stack.createReservation(alice.token);
    const r = await stack.gql(CONFIRM, { id: res.id }, admin.token);
    expect(r.errors).toBeUndefined();
    expect(r.data.confirmReservation.status).toBe('CONFIRMED');
    expect(r.data.confirmReservation.history.map((e: any) => [e.from, e.to, e.actor])).toEqual([
      [null, 'PENDING', `customer:${alice.id}`],
      ['PENDING', 'CONFIRMED', `admin:${admin.id}`],
    ]);
  });

  test('PENDING → CANCELLED by its customer, with the reason', async () => {
    const res = await stack.createReservation(alice.token);
    const r = await stack.gql(CANCEL, { id: res.id, reason: 'Plans changed' }, alice.token);
    expect(r.data.cancelReservation).toMatchObject({ status: 'CANCELLED', cancellationReason: 'Plans changed' });
    expect(r.data.cancelReservation.history[1]).toMatchObject({ from: 'PENDING', to: 'CANCELLED', actor: `customer:${alice.id}`, reason: 'Plans changed' });
  });

  test('CONFIRMED → CANCELLED by an admin, without a reason', async () => {
    const res = await stack.createReservation(alice.token);
    await stack.gql(CONFIRM, { id: res.id }, admin.token);
    const r = await stack.gql(CANCEL, { id: res.id }, admin.token);
    expect(r.data.cancelReservation).toMatchObject({ status: 'CANCELLED', cancellationReason: null });
    expect(r.data.cancelReservation.history[2]).toMatchObject({ from: 'CONFIRMED', to: 'CANCELLED', actor: `admin:${admin.id}`, reason: null });
  });

  test('CONFIRMED → CANCELLED by its customer', async () => {
    const res = await stack.createReservation(alice.token);
    const c = await stack.gql(CONFIRM, { id: res.id }, admin.token);
    expect(c.errors).toBeUndefined();
    expect(c.data.confirmReservation.status).toBe('CONFIRMED');
    const r = await stack.gql(CANCEL, { id: res.id }, alice.token);
    expect(r.errors).toBeUndefined();
    expect(r.data.cancelReservation.status).toBe('CANCELLED');
    expect(r.data.cancelReservation.history.map((e: any) => [e.from, e.to, e.actor])).toEqual([
      [null, 'PENDING', `customer:${alice.id}`],
      ['PENDING', 'CONFIRMED', `admin:${admin.id}`],
      ['CONFIRMED', 'CANCELLED', `customer:${alice.id}`],
    ]);
  });

  async function inStatus(status: 'CONFIRMED' | 'CANCELLED' | 'COMPLETED') {
    const res = await stack.createReservation(alice.token);
    if (status === 'COMPLETED') {
      // Completion is the system's (the sweep, tested with the worker); here the document is put there directly.
      await Reservation.updateOne({ _id: res.id }, { $set: { status: 'COMPLETED' } });
    } else if (status === 'CONFIRMED') {
      await stack.gql(CONFIRM, { id: res.id }, admin.token);
    } else {
      await stack.gql(CANCEL, { id: res.id }, admin.token);
    }
    return res.id as string;
  }

  test.each([
    ['confirm a CONFIRMED', 'CONFIRMED', CONFIRM],
    ['confirm a CANCELLED', 'CANCELLED', CONFIRM],
    ['confirm a COMPLETED', 'COMPLETED', CONFIRM],
    ['cancel a CANCELLED', 'CANCELLED', CANCEL],
    ['cancel a COMPLETED', 'COMPLETED', CANCEL],
  ] as const)('cannot %s reservation: INVALID_TRANSITION, nothing changed', async (_name, status, mutation) => {
    const id = await inStatus(status);
    const before = await stored(id);
    const r = await stack.gql(mutation, { id }, admin.token);
    expect(codeOf(r)).toBe('INVALID_TRANSITION');
    expect(r.errors![0]!.extensions!.status).toBe(status);
    expect(await stored(id)).toEqual(before);
  });

  test('10 parallel confirms: exactly one wins, one history event, the rest INVALID_TRANSITION', async () => {
    const res = await stack.createReservation(alice.token);
    const results = await Promise.all(Array.from({ length: 10 }, () => stack.gql(CONFIRM, { id: res.id }, admin.token)));
    const winners = results.filter((r) => !r.errors);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => codeOf(r) === 'INVALID_TRANSITION')).toHaveLength(9);
    const doc = await stored(res.id);
    expect(doc!.history.filter((e) => e.to === 'CONFIRMED')).toHaveLength(1);
  });

  test('a cancel racing a confirm: both may succeed in order, and history tells the true story', async () => {
    const res = await stack.createReservation(alice.token);
    const [c, x] = await Promise.all([stack.gql(CONFIRM, { id: res.id }, admin.token), stack.gql(CANCEL, { id: res.id }, alice.token)]);
    expect(x.errors).toBeUndefined();
    const doc = await stored(res.id);
    expect(doc!.status).toBe('CANCELLED');
    const path = doc!.history.map((e) => `${e.from}>${e.to}`);
    if (c.errors) {
      // The cancel came first: the confirm lost, with exactly INVALID_TRANSITION from CANCELLED, and left no trace.
      expect(c.errors).toEqual([
        expect.objectContaining({ extensions: expect.objectContaining({ code: 'INVALID_TRANSITION', status: 'CANCELLED', to: 'CONFIRMED' }) }),
      ]);
      expect(c.data).toBeNull();
      expect(path).toEqual(['null>PENDING', 'PENDING>CANCELLED']);
    } else {
      expect(c.data.confirmReservation.status).toBe('CONFIRMED');
      expect(path).toEqual(['null>PENDING', 'PENDING>CONFIRMED', 'CONFIRMED>CANCELLED']);
    }
  });
});

describe('who may do what', () => {
  test('confirming needs a login (UNAUTHENTICATED) and an admin (FORBIDDEN, even for the owner)', async () => {
    const res = await stack.createReservation(alice.token);
    expect(codeOf(await stack.gql(CONFIRM, { id: res.id }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await stack.gql(CONFIRM, { id: res.id }, alice.token))).toBe('FORBIDDEN');
    expect((await stored(res.id))!.status).toBe('PENDING');
  });

  test('cancelling needs a login; another customer gets NOT_FOUND and nothing changes', async () => {
    const res = await stack.createReservation(alice.token);
    expect(codeOf(await stack.gql(CANCEL, { id: res.id }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await stack.gql(CANCEL, { id: res.id }, bob.token))).toBe('NOT_FOUND');
    expect((await stored(res.id))!.status).toBe('PENDING');
  });

  test('another customer\'s reservation reads as null; its owner and admins see it', async () => {
    const res = await stack.createReservation(alice.token);
    expect((await stack.gql(GET, { id: res.id }, bob.token)).data.reservation).toBeNull();
    expect((await stack.gql(GET, { id: res.id }, alice.token)).data.reservation.id).toBe(res.id);
    expect((await stack.gql(GET, { id: res.id }, admin.token)).data.reservation.id).toBe(res.id);
    expect(codeOf(await stack.gql(GET, { id: res.id }))).toBe('UNAUTHENTICATED');
  });

  test('a reservation that does not exist: NOT_FOUND for confirm and cancel, null for the query', async () => {
    const id = new Types.ObjectId().toHexString();
    expect(codeOf(await stack.gql(CONFIRM, { id }, admin.token))).toBe('NOT_FOUND');
    expect(codeOf(await stack.gql(CANCEL, { id }, admin.token))).toBe('NOT_FOUND');
    expect(codeOf(await stack.gql(CANCEL, { id }, alice.token))).toBe('NOT_FOUND');
    expect((await stack.gql(GET, { id }, admin.token)).data.reservation).toBeNull();
  });

  test.each([CONFIRM, CANCEL, GET])('a malformed id is BAD_USER_INPUT (%#)', async (q) => {
    const r = await stack.gql(q, { id: 'not-an-id' }, admin.token);
    expect(codeOf(r)).toBe('BAD_USER_INPUT');
  });
});

describe('listing reservations', () => {
  let carol: Session;
  const created: { id: string; startTime: string }[] = [];
  const LIST = `query($first: Int, $after: String, $status: ReservationStatus, $from: DateTimeISO, $to: DateTimeISO) {
    reservations(first: $first, after: $after, status: $status, startFrom: $from, startTo: $to) {
      nodes { id startTime status customer { id } } pageInfo { hasNextPage endCursor } totalCount } }`;

  beforeAll(async () => {
    carol = await stack.signUp();
    const base = Date.now() + 86_400_000;
    // 23 reservations, several sharing a start time, so the cursor must break ties by id.
    for (let i = 0; i < 23; i++) {
      const startTime = new Date(base + Math.floor(i / 3) * 60_000).toISOString();
      const r = await stack.createReservation(carol.token, { startTime });
      created.push({ id: r.id, startTime });
    }
  });

  test('pages of 5 cover every reservation once, in start-time order, with totalCount', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const r: GqlResult = await stack.gql(LIST, { first: 5, after }, carol.token);
      expect(r.errors).toBeUndefined();
      const page: any = r.data.reservations;
      expect(page.totalCount).toBe(23);
      seen.push(...page.nodes.map((n: { id: string }) => n.id));
      pages++;
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(pages).toBe(5);
    expect(new Set(seen).size).toBe(23);
    const expected = [...created].sort((a, b) => a.startTime.localeCompare(b.startTime) || a.id.localeCompare(b.id)).map((c) => c.id);
    expect(seen).toEqual(expected);
  });

  test('customers see only their own; admins see everyone', async () => {
    const mine = await stack.gql(LIST, { first: 100 }, carol.token);
    expect(mine.data.reservations.nodes.every((n: any) => n.customer.id === carol.id)).toBe(true);
    const all = await stack.gql(LIST, { first: 100 }, admin.token);
    expect(all.data.reservations.totalCount).toBeGreaterThan(23);
    expect(new Set(all.data.reservations.nodes.map((n: any) => n.customer.id)).size).toBeGreaterThan(1);
  });

  test('status and date filters narrow the list and the count', async () => {
    await stack.gql(CONFIRM, { id: created[0]!.id }, admin.token);
    await stack.gql(CONFIRM, { id: created[1]!.id }, admin.token);
    const confirmed = await stack.gql(LIST, { status: 'CONFIRMED' }, carol.token);
    expect(confirmed.data.reservations.totalCount).toBe(2);
    const window = await stack.gql(LIST, { from: created[3]!.startTime, to: created[5]!.startTime }, carol.token);
    expect(window.data.reservations.totalCount).toBe(3);
    expect(window.data.reservations.nodes.every((n: any) => n.startTime === created[3]!.startTime)).toBe(true);
  });

  test.each([
    ['first above 100', { first: 101 }],
    ['first of 0', { first: 0 }],
    ['a forged cursor', { after: 'bm90LWEtY3Vyc29y' }],
  ])('rejects %s with BAD_USER_INPUT', async (_name, vars) => {
    expect(codeOf(await stack.gql(LIST, vars, carol.token))).toBe('BAD_USER_INPUT');
  });

  test('anonymous listing is UNAUTHENTICATED', async () => {
    expect(codeOf(await stack.gql(LIST, {}))).toBe('UNAUTHENTICATED');
  });
});
