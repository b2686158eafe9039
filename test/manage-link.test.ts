// The manage link, as a customer uses it: opened from the real confirmation email (the outbox) in headless
// Chromium with JavaScript off and every other host unreachable, the reservation shown, cancelled with a reason
// through the status pipeline (the admin's subscription sees it, the cancellation email goes out). Past the
// cutoff the page refuses; tampered, foreign, expired and auth-token links are refused; GET never changes anything.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { Types } from 'mongoose';
import { parseConfig } from '../src/config.js';
import { formatDate, formatTime } from '../src/mail/render.js';
import { issueManageToken, manageUrl } from '../src/manage/token.js';
import { Reservation } from '../src/models/reservation.js';
import { ReservationStatus } from '../src/models/status.js';
import { launchChromium, offlineContext } from './support/browser.js';
import { confirmedReservation } from './support/fixtures.js';
import { parseInvite } from './support/ical.js';
import { connectLive, hasEvent, resultsForEvent, STATUS_CHANGED, untilSubscribed, type Change, type LiveConnection } from './support/live.js';
import { pollUntil } from './support/poll.js';
import { killLeftoverWorkers, startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { baseEnv, codeOf, gql, startStack, type InProcessApi, type Session, type TestStack } from './support/stack.js';

const TZ = 'Europe/Paris';
const CONTACT = '+33 1 23 45 67 89';
const { CONFIRMED, CANCELLED } = ReservationStatus;
const CONFIRM = `mutation($id: ID!) { confirmReservation(id: $id) { history { id } } }`;

let outbox: string;
let stack: TestStack;
let worker: Proc;
let browser: Browser;
let context: BrowserContext;
let blocked: string[];
let admin: Session;
let live: LiveConnection;
/** The API's own origin: what the worker's links point at. */
let origin: string;

interface OutboxEmail {
  to: string;
  subject: string;
  html: string;
  text: string;
  key: string;
  attachments?: { content: string; filename: string; type: string }[];
}

beforeAll(async () => {
  outbox = await mkdtemp(path.join(os.tmpdir(), 'manage-outbox-'));
  const env = { MAIL_OUTBOX_DIR: outbox, DISPLAY_TIMEZONE: TZ, BUSINESS_NAME: 'Chez Test', BUSINESS_CONTACT: CONTACT };
  stack = await startStack({ prefix: 'manage', env });
  origin = new URL(stack.url).origin;
  worker = await startWorkerProcess(baseEnv(stack.mongoUri, { ...env, PUBLIC_URL: origin, COMPLETION_SWEEP_INTERVAL: '1 hour' }));
  [browser, admin] = await Promise.all([launchChromium(), stack.admin()]);
  // No JavaScript, no other host: the page must work as it is.
  ({ context, blocked } = await offlineContext(browser, { javaScriptEnabled: false }));
  live = connectLive(stack.url, admin.token);
  await live.accepted;
}, 90_000);

afterAll(async () => {
  await live?.dispose();
  await context?.close();
  await browser?.close();
  await stopProcess(worker);
  await killLeftoverWorkers();
  await stack?.stop();
  await rm(outbox, { recursive: true, force: true });
});

/** The outbox email about `reference` with this subject, once written. */
async function outboxEmail(reference: string, subject: string): Promise<OutboxEmail> {
  const found = await pollUntil(
    async () => {
      const emails = await Promise.all(
        (await readdir(outbox)).filter((f) => f.endsWith('.json')).map(async (f) => JSON.parse(await readFile(path.join(outbox, f), 'utf8')) as OutboxEmail),
      );
      return emails.filter((e) => e.subject === subject && e.text.includes(reference));
    },
    (list) => list.length > 0,
    `"${subject}" about ${reference} in the outbox`,
    20_000,
  );
  return found[0]!;
}

const stored = (id: string) => Reservation.findById(id).lean();
const post = (link: string, body: Record<string, string> = {}) =>
  fetch(link, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });

test('from the confirmation email: see the reservation, cancel it with a reason; the admin sees it live, the customer gets the email', async () => {
  const customer = await stack.signUp({ firstName: 'Nina' });
  const sub = live.subscribe<Change>(STATUS_CHANGED);
  await untilSubscribed([sub], stack.url, customer.token);

  const r = await stack.createReservation(customer.token, { startTime: '2031-03-14T18:30:00.000Z', partySize: 3 });
  expect((await stack.gql(CONFIRM, { id: r.id }, admin.token)).errors).toBeUndefined();
  const confirmation = await outboxEmail(r.reference, 'Your Reservation is Confirmed!');
  const link = new RegExp(`href="(${origin.replace(/[.]/g, '\\.')}/manage/[^"]+)"`).exec(confirmation.html)?.[1];
  expect(link).toBeDefined();
  // The invite travels in the outbox JSON as it does to SendGrid.
  expect(confirmation.attachments!.map((a) => a.filename)).toEqual(['reservation.ics']);
  expect(parseInvite(confirmation.attachments![0]!.content)).toMatchObject({ method: 'REQUEST', uid: expect.stringContaining(r.id) });

  // Opening it (a mail scanner would, several times, and with HEAD) changes nothing.
  for (const method of ['GET', 'GET', 'HEAD']) expect((await fetch(link!, { method })).status).toBe(200);
  expect((await stored(r.id))!.history.map((e) => e.to)).toEqual(['PENDING', CONFIRMED]);

  const page = await context.newPage();
  const response = await page.goto(link!);
  expect(response!.status()).toBe(200);
  await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Your reservation');
  const details = await page.locator('dl').innerText();
  const start = new Date('2031-03-14T18:30:00.000Z');
  for (const shown of [r.reference, formatDate(start, TZ), '19:30', formatTime(start, TZ), '3 people', 'Confirmed']) expect(details).toContain(shown);

  await page.getByLabel('Reason (optional)').fill('Running late, sorry');
  await Promise.all([page.waitForURL(link!), page.getByRole('button', { name: 'Cancel reservation' }).click()]);
  await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Your reservation has been cancelled');
  expect(await page.locator('dl').innerText()).toContain('Cancelled');
  expect(blocked).toEqual([]);

  const after = await stored(r.id);
  expect(after!.status).toBe(CANCELLED);
  expect(after!.cancellationReason).toBe('Running late, sorry');
  const event = after!.history.at(-1)!;
  expect(event).toMatchObject({ from: CONFIRMED, to: CANCELLED, actor: `customer:${customer.id}`, reason: 'Running late, sorry' });

  const received = await sub.waitFor(hasEvent(event._id.toString()), 'the cancellation, live', 10_000);
  expect(resultsForEvent(received, event._id.toString())[0]!.reservationStatusChanged).toMatchObject({
    reservation: { id: r.id, status: CANCELLED },
    event: { from: CONFIRMED, to: CANCELLED, actor: `customer:${customer.id}`, reason: 'Running late, sorry' },
  });

  const cancellation = await outboxEmail(r.reference, 'Your Reservation has been Cancelled');
  expect(cancellation.to).toBe(customer.email);
  expect(cancellation.key).toBe(event._id.toString());
  expect(cancellation.text).toContain('Running late, sorry');
  expect(parseInvite(cancellation.attachments![0]!.content)).toMatchObject({ method: 'CANCEL', status: 'CANCELLED' });

  // The link again, now that it is final: a clear page, 409, nothing changes; a second POST changes nothing either.
  const again = await page.goto(link!);
  expect(again!.status()).toBe(409);
  expect(await page.locator('main').innerText()).toContain('This reservation has been cancelled.');
  expect((await post(link!, { reason: 'twice' })).status).toBe(409);
  expect((await stored(r.id))!.history).toHaveLength(3);
  await page.close();
  sub.unsubscribe();
}, 90_000);

describe('past CANCELLATION_CUTOFF', () => {
  let api: InProcessApi;
  let apiOrigin: string;
  beforeAll(async () => {
    api = await stack.startApi({ CANCELLATION_CUTOFF: '2 hours' });
    apiOrigin = new URL(api.url).origin;
  });
  afterAll(() => api?.stop());

  test('the page shows the reservation and how to reach the venue, and refuses to cancel; the API refuses the customer, not an admin', async () => {
    const customer = await stack.signUp();
    const r = await stack.createReservation(customer.token, { startTime: new Date(Date.now() + 3_600_000).toISOString() });
    expect((await gql(api.url, CONFIRM, { id: r.id }, admin.token)).errors).toBeUndefined();
    const config = parseConfig(baseEnv(stack.mongoUri, { PUBLIC_URL: apiOrigin }));
    const link = await manageUrl({ reservationId: r.id, customerId: customer.id, startTime: new Date(r.startTime) }, config);

    const page = await context.newPage();
    expect((await page.goto(link))!.status()).toBe(200);
    const text = await page.locator('main').innerText();
    expect(text).toContain('It is too close to the start to cancel online.');
    expect(text).toContain(`To change or cancel it, contact us: ${CONTACT}`);
    expect(await page.getByRole('button', { name: 'Cancel reservation' }).count()).toBe(0);
    await page.close();

    const refused = await post(link, { reason: 'cannot come' });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain(CONTACT);
    const byCustomer = await gql(api.url, `mutation($id: ID!) { cancelReservation(id: $id) { id } }`, { id: r.id }, customer.token);
    expect(codeOf(byCustomer)).toBe('CANCELLATION_CLOSED');
    expect((await stored(r.id))!.history.map((e) => e.to)).toEqual(['PENDING', CONFIRMED]);

    // Admins always can.
    const byAdmin = await gql(api.url, `mutation($id: ID!) { cancelReservation(id: $id) { status } }`, { id: r.id }, admin.token);
    expect(byAdmin.data).toEqual({ cancelReservation: { status: CANCELLED } });
  });
});

describe('links that are not good for this reservation are refused, with a clear page, and change nothing', () => {
  let customer: Session;
  let r: { id: string; reference: string; startTime: string };
  let link: string;
  beforeAll(async () => {
    customer = await stack.signUp();
    r = await stack.createReservation(customer.token, { startTime: '2031-03-14T18:30:00.000Z' });
    expect((await stack.gql(CONFIRM, { id: r.id }, admin.token)).errors).toBeUndefined();
    link = await manageUrl({ reservationId: r.id, customerId: customer.id, startTime: new Date(r.startTime) }, parseConfig(baseEnv(stack.mongoUri, { PUBLIC_URL: origin })));
    expect((await fetch(link)).status).toBe(200); // the control: this one is good
  });

  const unchanged = async () => expect((await stored(r.id))!.history.map((e) => e.to)).toEqual(['PENDING', CONFIRMED]);
  const refusedBoth = async (url: string, status: number, title: string) => {
    for (const res of [await fetch(url), await post(url, { reason: 'x' })]) {
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await res.text()).toContain(`<h1>${title}</h1>`);
    }
    await unchanged();
  };

  test('tampered: its payload pointed at another reservation, or a character of its signature changed', async () => {
    const [header, payload, signature] = link.split('/').at(-1)!.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: new Types.ObjectId().toHexString() })).toString('base64url');
    await refusedBoth(`${origin}/manage/${header}.${forged}.${signature}`, 404, 'This link is not valid');
    // A character in the middle: every one of its bits counts (the last one's lowest bits may not).
    const i = Math.floor(signature.length / 2);
    const flipped = signature.slice(0, i) + (signature[i] === 'A' ? 'B' : 'A') + signature.slice(i + 1);
    await refusedBoth(`${origin}/manage/${header}.${payload}.${flipped}`, 404, 'This link is not valid');
  });

  test("an auth token (the customer's own) is not a manage token, and a manage token is not an auth token", async () => {
    await refusedBoth(`${origin}/manage/${customer.token}`, 404, 'This link is not valid');
    const token = link.split('/').at(-1)!;
    const asAuth = await gql(stack.url, '{ me { id } }', undefined, token);
    expect(asAuth.status).toBe(401);
    expect(codeOf(asAuth)).toBe('UNAUTHENTICATED');
  });

  test('foreign: signed with another secret, or naming another customer', async () => {
    const other = parseConfig(baseEnv(stack.mongoUri, { JWT_SECRET: 'another-secret-0123456789', PUBLIC_URL: origin }));
    await refusedBoth(await manageUrl({ reservationId: r.id, customerId: customer.id, startTime: new Date(r.startTime) }, other), 404, 'This link is not valid');
    const ours = parseConfig(baseEnv(stack.mongoUri, { PUBLIC_URL: origin }));
    const someoneElse = new Types.ObjectId().toHexString();
    await refusedBoth(await manageUrl({ reservationId: r.id, customerId: someoneElse, startTime: new Date(r.startTime) }, ours), 404, 'This link is not valid');
  });

  test('expired: a link to a reservation that has started', async () => {
    const started = await confirmedReservation({ customer: new Types.ObjectId(customer.id), startTime: new Date(Date.now() - 60_000) });
    await Reservation.collection.insertOne(started as never);
    const config = parseConfig(baseEnv(stack.mongoUri, { PUBLIC_URL: origin }));
    const token = await issueManageToken({ reservationId: started._id.toHexString(), customerId: customer.id, startTime: started.startTime }, config);
    for (const res of [await fetch(`${origin}/manage/${token}`), await post(`${origin}/manage/${token}`)]) {
      expect(res.status).toBe(410);
      expect(await res.text()).toContain('<h1>This link has expired</h1>');
    }
    expect((await stored(started._id.toHexString()))!.status).toBe(CONFIRMED);
  });
});
