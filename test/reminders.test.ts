// Reminders: one email at each of REMINDER_OFFSETS before a confirmed reservation's start, with the manage link.
// Short offsets here (seconds); two workers throughout. Never for a reservation that is no longer CONFIRMED (its
// reminder jobs are removed when it is cancelled or marked a no-show, and do nothing if they run anyway), never
// twice, not even when the worker sending one is killed mid-send.
import mongoose from 'mongoose';
import { AGENDA_COLLECTION, AgendaScheduler, createAgenda, jobIdFor } from '../src/jobs/agenda.js';
import { JOB } from '../src/jobs/names.js';
import { EmailDelivery } from '../src/mail/deliver.js';
import { formatDate, formatTime } from '../src/mail/render.js';
import { Reservation, TRANSITION_SUBJECT_FIELDS } from '../src/models/reservation.js';
import { ReservationStatus } from '../src/models/status.js';
import { reminderKey } from '../src/status/effects.js';
import { pollUntil } from './support/poll.js';
import { effectsHandedOver } from './support/worker.js';
import { killLeftoverWorkers, startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { startSendGridStub, type SendGridStub } from './support/sendgrid-stub.js';
import { baseEnv, gql, startStack, type Session, type TestStack } from './support/stack.js';

const TZ = 'Europe/Paris';
const CONFIRM = `mutation($id: ID!) { confirmReservation(id: $id) { history { id } } }`;
const CANCEL = `mutation($id: ID!) { cancelReservation(id: $id) { status } }`;

let stub: SendGridStub;
let stack: TestStack;
let admin: Session;
let workerEnv: Record<string, string>;
let workers: Proc[] = [];
const jobs = () => mongoose.connection.collection(AGENDA_COLLECTION);

beforeAll(async () => {
  stub = await startSendGridStub();
  const env = {
    SENDGRID_API_KEY: stub.apiKey,
    SENDGRID_API_BASE_URL: stub.url,
    DISPLAY_TIMEZONE: TZ,
    REMINDER_OFFSETS: '10 seconds, 5 seconds',
    // A worker killed mid-send is taken over this long after it went silent.
    JOB_LOCK_LIFETIME: '4 seconds',
    EMAIL_RETRY_DELAY: '1 second',
    COMPLETION_SWEEP_INTERVAL: '1 hour',
  };
  stack = await startStack({ prefix: 'remind', env });
  workerEnv = baseEnv(stack.mongoUri, env);
  workers = await Promise.all([startWorkerProcess(workerEnv), startWorkerProcess(workerEnv)]);
  admin = await stack.admin();
}, 90_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => stopProcess(w)));
  await killLeftoverWorkers();
  await stack?.stop();
  await stub?.close();
});

const remindersAbout = (reference: string) => stub.messages.filter((m) => m.subject.startsWith('Reminder:') && m.text.includes(reference));
/** A reservation's reminder jobs still to run (a sent one leaves a finished copy for the dashboard: not counted). */
const reminderJobs = (reservationId: string) =>
  jobs().countDocuments({ name: JOB.sendReservationReminder, 'data.reservationId': reservationId, nextRunAt: { $ne: null } });

/** A reservation starting `inMs` from now, confirmed by the admin through `url` (the stack's API unless given). */
async function confirmedIn(customer: Session, inMs: number, url?: string) {
  const startTime = new Date(Date.now() + inMs);
  const r = await stack.createReservation(customer.token, { startTime: startTime.toISOString(), partySize: 3 });
  const confirmed = await gql(url ?? stack.url, CONFIRM, { id: r.id }, admin.token);
  expect(confirmed.errors).toBeUndefined();
  await effectsHandedOver();
  return { ...r, startTime, confirmationId: confirmed.data.confirmReservation.history[1].id as string };
}

test('each offset before the start: one reminder with the manage link; none for a cancelled, no-show or completed one', async () => {
  const customer = await stack.signUp({ firstName: 'Rita' });
  const [kept, cancelled, noShow, completed] = await Promise.all([0, 1, 2, 3].map(() => confirmedIn(customer, 25_000)));
  for (const r of [kept, cancelled, noShow, completed]) expect(await reminderJobs(r.id)).toBe(2);

  // Cancelled by the customer; marked a no-show and completed through the status pipeline (the API allows neither
  // before the start): the first two remove their reminder and completion jobs, as effects of the change.
  expect((await stack.gql(CANCEL, { id: cancelled.id }, customer.token)).errors).toBeUndefined();
  const subjects = await Reservation.find({ _id: { $in: [noShow.id, completed.id] } }, TRANSITION_SUBJECT_FIELDS).lean();
  const subjectOf = (id: string) => subjects.find((s) => s._id.toHexString() === id)!;
  await stack.services.status.changeStatuses([
    { subject: subjectOf(noShow.id), to: ReservationStatus.NO_SHOW, actor: `admin:${admin.id}` },
    { subject: subjectOf(completed.id), to: ReservationStatus.COMPLETED, actor: 'system:auto-complete' },
  ]);
  await effectsHandedOver(); // the customer's cancel hands its effects over just after answering
  for (const r of [cancelled, noShow]) {
    expect(await reminderJobs(r.id)).toBe(0);
    expect(await jobs().countDocuments({ _id: jobIdFor(`complete:${r.confirmationId}`) })).toBe(0);
  }
  // A completion comes after the start, when the reminders are long gone: its jobs stay, and run without effect.
  expect(await reminderJobs(completed.id)).toBe(2);
  // The cancelled one's reminder, scheduled again as if the removal had raced it: it runs and sends nothing.
  await new AgendaScheduler(createAgenda(stack.config, stack.db)).schedule([
    {
      name: JOB.sendReservationReminder,
      data: { reservationId: cancelled.id, eventId: cancelled.confirmationId, offsetMs: 5_000, offset: '5 seconds' },
      runAt: new Date(cancelled.startTime.getTime() - 5_000),
      uniqueKey: reminderKey(cancelled.id, 5_000),
    },
  ]);

  const got = await pollUntil(async () => remindersAbout(kept.reference), (m) => m.length >= 2, 'two reminders', 60_000);
  for (const r of [kept, cancelled, noShow, completed]) {
    await pollUntil(() => reminderJobs(r.id), (n) => n === 0, `the reminder jobs of ${r.reference} to have run`, 30_000);
  }

  const subject = `Reminder: your reservation on ${formatDate(kept.startTime, TZ)} at ${formatTime(kept.startTime, TZ)}`;
  expect(got.map((m) => m.subject)).toEqual([subject, subject]);
  expect(got.map((m) => m.customArgs.idempotency_key)).toEqual([reminderKey(kept.id, 10_000), reminderKey(kept.id, 5_000)]);
  // Each at or after its offset before the start (how soon after is not checked: no clocks in tests).
  expect(got[0]!.receivedAt.getTime()).toBeGreaterThanOrEqual(kept.startTime.getTime() - 10_000);
  expect(got[1]!.receivedAt.getTime()).toBeGreaterThanOrEqual(kept.startTime.getTime() - 5_000);
  for (const m of got) {
    expect(m.to).toBe(customer.email);
    expect(m.text).toMatch(/^Hi Rita,\n/);
    expect(m.text).toContain('Party:     3 people');
    expect(m.text).toMatch(/To see or cancel your reservation:\nhttps:\/\/book\.restaurant\.test\/manage\/\S+\n/);
    expect(m.html).toMatch(/href="https:\/\/book\.restaurant\.test\/manage\/[^"]+"/);
  }
  // Exactly those two, whatever the two workers did; none for the others.
  expect(remindersAbout(kept.reference)).toHaveLength(2);
  for (const r of [cancelled, noShow, completed]) expect(remindersAbout(r.reference)).toEqual([]);
}, 120_000);

test('the worker sending a reminder is killed mid-send: it is sent once, by another worker', async () => {
  const customer = await stack.signUp();
  // One offset, long before a start far enough away for the take-over to happen well ahead of it.
  const api = await stack.startApi({ REMINDER_OFFSETS: '50 seconds' });
  try {
    const r = await confirmedIn(customer, 60_000, api.url);
    await pollUntil(
      async () => stub.messages.filter((m) => m.subject === 'Your Reservation is Confirmed!' && m.text.includes(r.reference)),
      (m) => m.length === 1,
      'the confirmation',
      30_000,
    );
    // From now on SendGrid takes its time answering: the reminder's send hangs.
    stub.delayMs = 120_000;
    const before = stub.requestCount;
    await pollUntil(async () => stub.requestCount, (n) => n > before, 'the reminder to be sending', 30_000);
    expect(remindersAbout(r.reference)).toEqual([]);
    const key = reminderKey(r.id, 50_000);
    expect((await EmailDelivery.find({ key }).lean()).map((a) => a.state)).toEqual(['sending']);

    // The worker sending it dies (on FerretDB both may have started the job: then both), SendGrid never gets the
    // whole request; the other worker carries on, and new ones replace the dead.
    const sending = workers.filter((w) => w.lines.some((l) => l.includes('"msg":"job started"') && l.includes(JOB.sendReservationReminder) && l.includes(r.id)));
    expect(sending.length).toBeGreaterThan(0);
    await Promise.all(sending.map((w) => stopProcess(w, 'SIGKILL')));
    stub.abortPending();
    stub.delayMs = 0;
    const survivors = workers.filter((w) => !sending.includes(w));
    workers = [...survivors, ...(await Promise.all(sending.map(() => startWorkerProcess(workerEnv))))];
    const got = await pollUntil(async () => remindersAbout(r.reference), (m) => m.length >= 1, 'the reminder', 60_000);
    await pollUntil(() => reminderJobs(r.id), (n) => n === 0, 'the reminder job to finish', 30_000);
    expect(remindersAbout(r.reference)).toHaveLength(1);
    expect(got[0]!.customArgs.idempotency_key).toBe(key);
    // The dead worker's attempt stays `sending`; the one that succeeded is the only `sent`.
    expect((await EmailDelivery.find({ key }).sort({ attempt: 1 }).lean()).map((a) => a.state)).toEqual(['sending', 'sent']);
  } finally {
    stub.delayMs = 0;
    await api.stop();
  }
}, 150_000);

test('with offsets of 24 hours and 2 hours: confirmed 1 hour before, no reminder; 3 hours before, only the 2-hour one', async () => {
  const customer = await stack.signUp();
  const api = await stack.startApi({ REMINDER_OFFSETS: '24 hours, 2 hours' });
  try {
    const inOneHour = await confirmedIn(customer, 3_600_000, api.url);
    const inThreeHours = await confirmedIn(customer, 3 * 3_600_000, api.url);
    expect(await reminderJobs(inOneHour.id)).toBe(0);
    const scheduled = await jobs().find({ name: JOB.sendReservationReminder, 'data.reservationId': inThreeHours.id }).toArray();
    expect(scheduled.map((j) => [j.data.offset, j.nextRunAt.getTime()])).toEqual([
      ['2 hours', inThreeHours.startTime.getTime() - 2 * 3_600_000],
    ]);
  } finally {
    await api.stop();
  }
});
