// Notifications end to end: the API (in this process, scheduling like `npm start` does), real worker processes,
// and a local stand-in for SendGrid's `POST /v3/mail/send`.
import mongoose, { Types } from 'mongoose';
import { AGENDA_COLLECTION, AgendaScheduler, createAgenda, jobIdFor } from '../src/jobs/agenda.js';
import { JOB } from '../src/jobs/names.js';
import { EmailDelivery } from '../src/mail/deliver.js';
import { Reservation, TRANSITION_SUBJECT_FIELDS } from '../src/models/reservation.js';
import { completionRequest } from '../src/status/completion.js';
import { pollUntil } from './support/poll.js';
import { killLeftoverWorkers, startApiProcess, startProcess, startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { startSendGridStub, type SendGridStub, type StubMessage } from './support/sendgrid-stub.js';
import { baseEnv, codeOf, gql, startStack, type Session, type TestStack } from './support/stack.js';
import { emailJobsSettled } from './support/worker.js';

const START = '2031-03-14T18:30:00.000Z'; // 19:30 in Paris (CET)
const CONFIRM = `mutation($id: ID!) { confirmReservation(id: $id) { id status history { id to } } }`;
const CANCEL = `mutation($id: ID!, $reason: String) { cancelReservation(id: $id, reason: $reason) { id status history { id to } } }`;

let stub: SendGridStub;
let stack: TestStack;
let admin: Session;
let workerEnv: (extra?: Record<string, string>) => Record<string, string>;

beforeAll(async () => {
  stub = await startSendGridStub();
  const common = {
    SENDGRID_API_KEY: stub.apiKey,
    SENDGRID_API_BASE_URL: stub.url,
    DISPLAY_TIMEZONE: 'Europe/Paris',
    BUSINESS_NAME: 'Chez Test',
    EMAIL_MAX_ATTEMPTS: '3',
    // Long against the workers' poll (200 ms) and their own pace: the backoff test measures the gaps.
    EMAIL_RETRY_DELAY: '1 second',
    PENDING_EFFECTS_INTERVAL: '1 second',
    PENDING_EFFECTS_AFTER: '1 second',
    COMPLETION_SWEEP_INTERVAL: '1 hour',
    // Reminders are test/reminders.test.ts's subject. Off here: on FerretDB every waiting job slows the workers'
    // polling (README, "Known limits on FerretDB"), and this file's 50 confirmations would leave 100 of them waiting.
    REMINDER_OFFSETS: '',
  };
  stack = await startStack({ prefix: 'notify', env: common });
  workerEnv = (extra = {}) => baseEnv(stack.mongoUri, { ...common, ...extra });
  admin = await stack.admin();
});

afterAll(async () => {
  await killLeftoverWorkers();
  await stack.stop();
  await stub.close();
});

/** The emails about one reservation (its reference is in every one of them). */
const about = (reservation: { reference: string }) => stub.messages.filter((m) => m.text.includes(reservation.reference));
const waitForEmail = async (reservation: { reference: string }, subject: string, timeoutMs = 10_000) =>
  pollUntil(
    async () => about(reservation).filter((m) => m.subject === subject),
    (found) => found.length > 0,
    `"${subject}" about ${reservation.reference}`,
    timeoutMs,
  ).then((found) => found[0]!);

async function confirm(id: string) {
  const r = await stack.gql(CONFIRM, { id }, admin.token);
  expect(r.errors).toBeUndefined();
  return r.data.confirmReservation as { id: string; history: { id: string; to: string }[] };
}

describe('with a worker running', () => {
  let worker: Proc;
  beforeAll(async () => {
    worker = await startWorkerProcess(workerEnv());
  });
  afterAll(() => stopProcess(worker));
  afterEach(() => emailJobsSettled());

  test('a new reservation emails the admin, names escaped, in the display time zone', async () => {
    const customer = await stack.signUp({ firstName: '<script>alert(1)</script>', lastName: 'Smith' });
    const res = await stack.createReservation(customer.token, { startTime: START });
    const mail = await waitForEmail(res, `🔔 New Reservation #${res.reference} - Action Required`);

    expect(mail).toMatchObject({ to: 'owner@restaurant.test', from: 'Reservations <noreply@restaurant.test>' });
    expect(mail.customArgs.idempotency_key).toBe(res.history[0].id);
    expect(mail.text).toContain('Customer:  <script>alert(1)</script> Smith\n');
    expect(mail.text).toContain(`Email:     ${customer.email}\n`);
    expect(mail.text).toContain(`Reference: ${res.reference}\nDate:      14/03/2031\nTime:      19:30\n`);
    expect(mail.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; Smith');
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toContain(customer.email);
    expect(mail.html).toContain('Chez Test');
  });

  // How soon it arrives is the `email-latency` benchmark's (p95 < 2 s); here only that it does.
  test('confirming emails the customer, greeted by username when there is no first name', async () => {
    const customer = await stack.signUp({ username: `nofirst${Date.now()}` });
    const res = await stack.createReservation(customer.token, { startTime: START });
    await waitForEmail(res, `🔔 New Reservation #${res.reference} - Action Required`);

    const confirmed = await confirm(res.id);
    const mail = await waitForEmail(res, 'Your Reservation is Confirmed!', 15_000);

    expect(mail).toMatchObject({ to: customer.email, from: 'Reservations <noreply@restaurant.test>' });
    expect(mail.customArgs.idempotency_key).toBe(confirmed.history[1]!.id);
    expect(mail.text).toMatch(new RegExp(`^Hi nofirst\\d+,\n`));
    expect(mail.text).toContain(`Reference: ${res.reference}\nDate:      14/03/2031\nTime:      19:30\nParty:     2 people\nStatus:    Confirmed\n`);
    expect(mail.html).toContain(res.reference);
    expect(mail.html).toContain('14/03/2031');
    expect(mail.html).toContain('19:30');
  });

  test('cancelling emails the customer with the reason; a PENDING reservation got no customer email', async () => {
    const customer = await stack.signUp({ firstName: 'Ada', lastName: 'Lovelace' });
    const res = await stack.createReservation(customer.token, { startTime: START });
    await waitForEmail(res, `🔔 New Reservation #${res.reference} - Action Required`);
    await emailJobsSettled();
    expect(about(res).filter((m) => m.to === customer.email)).toEqual([]);

    const r = await stack.gql(CANCEL, { id: res.id, reason: 'Kitchen <closed> for repairs' }, admin.token);
    expect(r.errors).toBeUndefined();
    const mail = await waitForEmail(res, 'Your Reservation has been Cancelled');

    expect(mail.to).toBe(customer.email);
    expect(mail.text).toMatch(/^Hi Ada Lovelace,\n/);
    expect(mail.text).toContain('Status:    Cancelled\n\nReason:\nKitchen <closed> for repairs\n');
    expect(mail.html).toContain('Kitchen &lt;closed&gt; for repairs');
  });

  test('completing a reservation sends no email', async () => {
    const customer = await stack.signUp();
    const res = await stack.createReservation(customer.token, { startTime: START });
    await confirm(res.id);
    await waitForEmail(res, 'Your Reservation is Confirmed!');

    const subject = await Reservation.findById(res.id, TRANSITION_SUBJECT_FIELDS).lean();
    const [completed] = await stack.services.status.changeStatuses([completionRequest(subject!)]);
    expect(completed!.event).toEqual({
      _id: expect.any(Types.ObjectId),
      from: 'CONFIRMED',
      to: 'COMPLETED',
      at: expect.any(Date),
      actor: 'system:auto-complete',
    });
    expect((await Reservation.findById(res.id).lean())!.history.at(-1)).toEqual(completed!.event);
    await emailJobsSettled();

    expect(about(res).map((m) => m.subject).sort()).toEqual(
      ['Your Reservation is Confirmed!', `🔔 New Reservation #${res.reference} - Action Required`].sort(),
    );
  });

  test('of 10 confirmations racing, one wins and one email is sent', async () => {
    const customer = await stack.signUp();
    const res = await stack.createReservation(customer.token, { startTime: START });
    const results = await Promise.all(Array.from({ length: 10 }, () => stack.gql(CONFIRM, { id: res.id }, admin.token)));

    expect(results.filter((r) => !r.errors)).toHaveLength(1);
    expect(results.filter((r) => codeOf(r) === 'INVALID_TRANSITION')).toHaveLength(9);
    await waitForEmail(res, 'Your Reservation is Confirmed!');
    await emailJobsSettled();
    expect(about(res).filter((m) => m.subject === 'Your Reservation is Confirmed!')).toHaveLength(1);
  });

  test('SendGrid failing twice then accepting: retried with backoff, delivered once, failures logged', async () => {
    const customer = await stack.signUp();
    const res = await stack.createReservation(customer.token, { startTime: START });
    await waitForEmail(res, `🔔 New Reservation #${res.reference} - Action Required`);
    await emailJobsSettled();
    const requestsBefore = stub.requestCount;
    // When each attempt reaches SendGrid (the stub counts requests; sampled every 10 ms).
    const arrivals: number[] = [];
    let seen = requestsBefore;
    const sampler = setInterval(() => {
      for (; seen < stub.requestCount; seen++) arrivals.push(Date.now());
    }, 10);

    stub.failNext(2, 503, 'Service temporarily unavailable');
    try {
      await confirm(res.id);
      await waitForEmail(res, 'Your Reservation is Confirmed!', 30_000);
      await emailJobsSettled();
    } finally {
      clearInterval(sampler);
    }

    expect(about(res).filter((m) => m.subject === 'Your Reservation is Confirmed!')).toHaveLength(1);
    expect(stub.requestCount - requestsBefore).toBe(3);
    // Backoff: EMAIL_RETRY_DELAY (1 s, ±20% jitter) before the first retry, twice that before the second.
    expect(arrivals).toHaveLength(3);
    const gaps = [arrivals[1]! - arrivals[0]!, arrivals[2]! - arrivals[1]!];
    expect(gaps[0]).toBeGreaterThanOrEqual(800 - 10);
    expect(gaps[1]).toBeGreaterThanOrEqual(1600 - 10);
    expect(gaps[1]).toBeGreaterThan(gaps[0]!);
    await worker.waitForLine(new RegExp(`${res.id}","attempt":2,.*"msg":"job failed"`), 5_000);
    const failures = worker.lines.filter((l) => l.includes('"job failed"') && l.includes(res.id)).map((l) => JSON.parse(l));
    expect(failures.map((f) => f.attempt)).toEqual([1, 2]);
    for (const f of failures) {
      expect(f.err.message).toBe('SendGrid rejected the email: HTTP 503: Service temporarily unavailable');
      expect(f.err.status).toBe(503);
    }
  });

  test('a refused email (HTTP 400) is not retried; the job stays failed with its reason', async () => {
    const customer = await stack.signUp();
    const res = await stack.createReservation(customer.token, { startTime: START });
    await waitForEmail(res, `🔔 New Reservation #${res.reference} - Action Required`);
    await emailJobsSettled();

    stub.failNext(1, 400, 'Does not contain a valid address.');
    const confirmed = await confirm(res.id);
    const job = await pollUntil(
      () => mongoose.connection.collection(AGENDA_COLLECTION).findOne({ _id: jobIdFor(`email:${confirmed.history[1]!.id}`) }),
      (j) => j?.failCount === 1 && j.lockedAt == null,
      'the email job to fail',
    );
    expect(job).toMatchObject({ nextRunAt: null, failReason: 'SendGrid rejected the email: HTTP 400: Does not contain a valid address.' });
    expect(about(res).filter((m) => m.subject === 'Your Reservation is Confirmed!')).toEqual([]);
  });

  test('after EMAIL_MAX_ATTEMPTS failures the job is left failed', async () => {
    const customer = await stack.signUp();
    const res = await stack.createReservation(customer.token, { startTime: START });
    await waitForEmail(res, `🔔 New Reservation #${res.reference} - Action Required`);
    await emailJobsSettled();

    stub.failNext(3, 500);
    const confirmed = await confirm(res.id);
    const job = await pollUntil(
      () => mongoose.connection.collection(AGENDA_COLLECTION).findOne({ _id: jobIdFor(`email:${confirmed.history[1]!.id}`) }),
      (j) => j?.failCount === 3 && j.lockedAt == null,
      'the email job to give up',
      30_000,
    );
    expect(job).toMatchObject({ nextRunAt: null, failReason: 'SendGrid rejected the email: HTTP 500: Simulated SendGrid failure (HTTP 500)' });
    await worker.waitForLine(new RegExp(`${res.id}.*"msg":"job gave up; left as failed"`), 5_000);
    expect(await EmailDelivery.countDocuments({ key: confirmed.history[1]!.id, state: 'failed' })).toBe(3);
  });
});

test('two workers and 50 confirmations: exactly 50 confirmation emails', async () => {
  const workers = await Promise.all([startWorkerProcess(workerEnv()), startWorkerProcess(workerEnv())]);
  try {
    const customer = await stack.signUp();
    const reservations = await Promise.all(Array.from({ length: 50 }, () => stack.createReservation(customer.token, { startTime: START })));
    await Promise.all(reservations.map((r) => confirm(r.id)));
    const ours = new Set(reservations.map((r) => r.reference));
    const confirmations = () => stub.messages.filter((m) => m.subject === 'Your Reservation is Confirmed!' && [...ours].some((ref) => m.text.includes(ref)));
    // Wait bounds, not speed goals (that is `npm run bench`): on FerretDB every job poll reads the whole jobs
    // collection, and on a loaded 2-core machine 50 emails can take a minute.
    await pollUntil(async () => confirmations().length, (n) => n >= 50, '50 confirmation emails', 120_000);
    await emailJobsSettled(60_000);

    expect(confirmations()).toHaveLength(50);
    expect(new Set(confirmations().map((m) => m.customArgs.idempotency_key)).size).toBe(50);
  } finally {
    await Promise.all(workers.map((w) => stopProcess(w)));
  }
}, 240_000);

test('SIGTERM during a slow send: the email is sent once and the worker exits 0', async () => {
  const customer = await stack.signUp();
  const res = await stack.createReservation(customer.token, { startTime: START });
  const worker = await startWorkerProcess(workerEnv());
  try {
    await waitForEmail(res, `🔔 New Reservation #${res.reference} - Action Required`);
    await emailJobsSettled();
    stub.delayMs = 1_500;
    const requestsBefore = stub.requestCount;
    const confirmed = await confirm(res.id);
    await pollUntil(async () => stub.requestCount, (n) => n > requestsBefore, 'the send to start');

    worker.kill('SIGTERM');
    expect(await worker.exited).toBe(0);

    expect(about(res).filter((m) => m.subject === 'Your Reservation is Confirmed!')).toHaveLength(1);
    const attempts = await EmailDelivery.find({ key: confirmed.history[1]!.id }).lean();
    expect(attempts.map((a) => a.state)).toEqual(['sent']);
    // Nothing left for another worker to send again.
    expect(await mongoose.connection.collection(AGENDA_COLLECTION).countDocuments({ _id: jobIdFor(`email:${confirmed.history[1]!.id}`) })).toBe(0);
  } finally {
    stub.delayMs = 0;
    await stopProcess(worker);
  }
});

test('an API server killed right after committing a confirmation: the email is still sent', async () => {
  const customer = await stack.signUp();
  const res = await stack.createReservation(customer.token, { startTime: START });
  const [worker, api] = await Promise.all([
    startWorkerProcess(workerEnv()),
    startApiProcess(workerEnv({ CRASH_POINT: 'after-apply', LOG_LEVEL: 'info' })),
  ]);
  try {
    await expect(gql(api.url, CONFIRM, { id: res.id }, admin.token)).rejects.toThrow();
    expect(await api.exited).toBe('SIGKILL');
    const stored = await Reservation.findById(res.id).lean();
    expect(stored?.status).toBe('CONFIRMED');

    // A generous deadline: beyond JOB_LOCK_LIFETIME, in case a worker an earlier test stopped still held the lock of
    // dispatch-pending-effects (a recurring job) when it went.
    const mail = await waitForEmail(res, 'Your Reservation is Confirmed!', 75_000);
    expect(mail.customArgs.idempotency_key).toBe(stored!.history[1]!._id.toString());
    await emailJobsSettled();
    expect(about(res).filter((m: StubMessage) => m.subject === 'Your Reservation is Confirmed!')).toHaveLength(1);
  } finally {
    await Promise.all([stopProcess(worker), stopProcess(api, 'SIGKILL')]);
  }
}, 120_000);

test('a job is scheduled once per key, however many times and processes schedule it', async () => {
  const scheduler = new AgendaScheduler(createAgenda(stack.config, stack.db));
  const schedule = (job: Parameters<AgendaScheduler['schedule']>[0][number]) => scheduler.schedule([job]);
  const eventId = new Types.ObjectId().toString();
  const job = {
    name: JOB.reservationStatusEmail,
    data: { reservationId: new Types.ObjectId().toString(), eventId },
    runAt: new Date(Date.now() + 3_600_000),
    uniqueKey: `email:${eventId}`,
  };
  // Four other processes (test/fixtures/schedule-job.mjs), each scheduling it five times at once, released together
  // with this one's five.
  const processes = Array.from({ length: 4 }, () =>
    startProcess('../../test/fixtures/schedule-job.mjs', workerEnv(), { args: [JSON.stringify(job), '5'] }),
  );
  try {
    await Promise.all(processes.map((p) => p.waitForLine(/^ready$/)));
    for (const p of processes) p.child.kill('SIGUSR2');
    await Promise.all([...processes.map((p) => p.waitForLine(/^scheduled$/)), ...Array.from({ length: 5 }, () => schedule(job))]);
    expect(await Promise.all(processes.map((p) => p.exited))).toEqual([0, 0, 0, 0]);
  } finally {
    await Promise.all(processes.map((p) => stopProcess(p, 'SIGKILL')));
  }
  expect(await mongoose.connection.collection(AGENDA_COLLECTION).countDocuments({ 'data.eventId': eventId })).toBe(1);
});
