// What the emails carry, as SendGrid receives them: the admin's shows the party and the customer's notes (escaped),
// every customer email shows the party, the confirmation carries the manage link and a calendar invite, and the
// cancellation withdraws that invite (same UID, METHOD:CANCEL, a higher SEQUENCE), read with ical.js.
import { formatDate, formatTime } from '../src/mail/render.js';
import { pollUntil } from './support/poll.js';
import { parseInvite } from './support/ical.js';
import { killLeftoverWorkers, startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { startSendGridStub, type SendGridStub, type StubMessage } from './support/sendgrid-stub.js';
import { baseEnv, startStack, type Session, type TestStack } from './support/stack.js';
import { emailJobsSettled } from './support/worker.js';

const START = '2031-03-14T18:30:00.000Z'; // 19:30 in Paris
const NOTES = '<script>alert("owned")</script>\nWindow seat & a high chair';
const ADDRESS = '12 Rue de la Paix, 75002 Paris';

let stub: SendGridStub;
let stack: TestStack;
let worker: Proc;
let admin: Session;

beforeAll(async () => {
  stub = await startSendGridStub();
  const env = {
    SENDGRID_API_KEY: stub.apiKey,
    SENDGRID_API_BASE_URL: stub.url,
    DISPLAY_TIMEZONE: 'Europe/Paris',
    BUSINESS_NAME: 'Chez Test',
    BUSINESS_ADDRESS: ADDRESS,
    CALENDAR_EVENT_DURATION: '2 hours',
    COMPLETION_SWEEP_INTERVAL: '1 hour',
  };
  stack = await startStack({ prefix: 'custmail', env });
  worker = await startWorkerProcess(baseEnv(stack.mongoUri, env));
  admin = await stack.admin();
});

afterAll(async () => {
  await stopProcess(worker);
  await killLeftoverWorkers();
  await stack?.stop();
  await stub?.close();
});

const emailAbout = (reference: string, subject: string) =>
  pollUntil(
    async () => stub.messages.filter((m) => m.subject === subject && m.text.includes(reference)),
    (found) => found.length > 0,
    `"${subject}" about ${reference}`,
    20_000,
  ).then((found) => found[0]!);

test('the admin email shows the party and the notes, HTML-escaped; every customer email shows the party', async () => {
  const customer = await stack.signUp({ firstName: 'Olive' });
  const r = await stack.createReservation(customer.token, { startTime: START, partySize: 4, notes: NOTES });
  const adminEmail = await emailAbout(r.reference, `🔔 New Reservation #${r.reference} - Action Required`);
  expect(adminEmail.html).toMatch(/>Party<\/td><td[^>]*>4 people<\/td>/);
  expect(adminEmail.html).toContain('&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;');
  expect(adminEmail.html).toContain('Window seat &amp; a high chair');
  expect(adminEmail.html).not.toContain('<script>');
  expect(adminEmail.text).toContain('Party:     4 people');
  expect(adminEmail.text).toContain(`Notes from the customer:\n${NOTES}\n`);

  // Without notes, no notes block at all.
  const plain = await stack.createReservation(customer.token, { startTime: START, partySize: 1 });
  const plainAdmin = await emailAbout(plain.reference, `🔔 New Reservation #${plain.reference} - Action Required`);
  expect(plainAdmin.html).toMatch(/>Party<\/td><td[^>]*>1 person<\/td>/);
  expect(plainAdmin.html).not.toContain('Notes from the customer');
  expect(plainAdmin.text).not.toContain('Notes from the customer');

  expect((await stack.gql(`mutation($id: ID!) { confirmReservation(id: $id) { id } }`, { id: r.id }, admin.token)).errors).toBeUndefined();
  const confirmation = await emailAbout(r.reference, 'Your Reservation is Confirmed!');
  expect((await stack.gql(`mutation($id: ID!) { cancelReservation(id: $id, reason: "Closed") { id } }`, { id: r.id }, customer.token)).errors).toBeUndefined();
  const cancellation = await emailAbout(r.reference, 'Your Reservation has been Cancelled');
  for (const email of [confirmation, cancellation]) {
    expect(email.html).toMatch(/>Party<\/td><td[^>]*>4 people<\/td>/);
    expect(email.text).toContain('Party:     4 people');
    // The notes are for the staff.
    expect(email.text).not.toContain('Window seat');
  }
});

test('the confirmation carries reservation.ics and the manage link; the cancellation withdraws the same event', async () => {
  const customer = await stack.signUp({ firstName: 'Ada', lastName: 'King' });
  const r = await stack.createReservation(customer.token, { startTime: START, partySize: 2 });
  expect((await stack.gql(`mutation($id: ID!) { confirmReservation(id: $id) { id } }`, { id: r.id }, admin.token)).errors).toBeUndefined();
  const confirmation = await emailAbout(r.reference, 'Your Reservation is Confirmed!');

  const link = /href="(https:\/\/book\.restaurant\.test\/manage\/[A-Za-z0-9_.-]+)"/.exec(confirmation.html)?.[1];
  expect(link).toBeDefined();
  expect(confirmation.text).toContain(`To see or cancel your reservation:\n${link}\n`);

  expect(confirmation.attachments.map((a) => [a.filename, a.type, a.disposition])).toEqual([
    ['reservation.ics', 'text/calendar; method=REQUEST; charset=UTF-8', 'attachment'],
  ]);
  const invite = parseInvite(confirmation.attachments[0]!.content);
  expect(invite).toMatchObject({
    method: 'REQUEST',
    timezone: 'Europe/Paris',
    uid: `reservation-${r.id}@book.restaurant.test`,
    sequence: 0,
    status: 'CONFIRMED',
    summary: 'Reservation at Chez Test',
    location: ADDRESS,
    organizer: { cn: 'Chez Test', address: 'mailto:noreply@restaurant.test' },
    attendees: [`mailto:${customer.email}`],
  });
  expect(invite.start.toISOString()).toBe(START);
  expect(invite.end.toISOString()).toBe(new Date(Date.parse(START) + 2 * 3_600_000).toISOString());
  expect(invite.description).toContain(`Reservation ${r.reference} for 2 people.`);
  expect(invite.description).toContain(link);

  expect((await stack.gql(`mutation($id: ID!) { cancelReservation(id: $id) { id } }`, { id: r.id }, admin.token)).errors).toBeUndefined();
  const cancellation = await emailAbout(r.reference, 'Your Reservation has been Cancelled');
  expect(cancellation.attachments.map((a) => [a.filename, a.type])).toEqual([['reservation.ics', 'text/calendar; method=CANCEL; charset=UTF-8']]);
  const withdrawal = parseInvite(cancellation.attachments[0]!.content);
  expect(withdrawal).toMatchObject({ method: 'CANCEL', uid: invite.uid, status: 'CANCELLED' });
  expect(withdrawal.sequence).toBeGreaterThan(invite.sequence);
  expect(withdrawal.start.toISOString()).toBe(START);
  // The manage link is for reservations that can still change: none in a cancellation.
  expect(cancellation.html).not.toContain('/manage/');
});

test('a pending reservation cancelled never had an invite: its cancellation carries none', async () => {
  const customer = await stack.signUp();
  const r = await stack.createReservation(customer.token, { startTime: START });
  expect((await stack.gql(`mutation($id: ID!) { cancelReservation(id: $id) { id } }`, { id: r.id }, customer.token)).errors).toBeUndefined();
  const cancellation: StubMessage = await emailAbout(r.reference, 'Your Reservation has been Cancelled');
  expect(cancellation.attachments).toEqual([]);
  await emailJobsSettled(20_000);
  // Dates in the display time zone, as in every email.
  expect(cancellation.text).toContain(`Date:      ${formatDate(new Date(START), 'Europe/Paris')}`);
  expect(cancellation.text).toContain(`Time:      ${formatTime(new Date(START), 'Europe/Paris')}`);
  expect(cancellation.text).toContain('Time:      19:30');
});
