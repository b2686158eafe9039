// The one window the README admits in "at most one email per status event": a worker that dies after SendGrid
// accepted an email but before recording it leaves its attempt `sending`; once that is older than
// JOB_LOCK_LIFETIME another worker takes it for abandoned and sends again — once. Shown with a real worker killed
// at the `after-email-sent` crash point. And the other side of it: an attempt that is still fresh makes the job
// come back later, which is no failure and costs none of the email's attempts.
import mongoose from 'mongoose';
import { AGENDA_COLLECTION, jobIdFor } from '../src/jobs/agenda.js';
import { EmailDelivery } from '../src/mail/deliver.js';
import { startSendGridStub, type SendGridStub } from './support/sendgrid-stub.js';
import { baseEnv, startStack, type TestStack } from './support/stack.js';
import { emailJobsSettled } from './support/worker.js';
import { pollUntil } from './support/poll.js';
import { killLeftoverWorkers, startWorkerProcess, stopProcess } from './support/processes.js';

const LOCK_LIFETIME_MS = 3_000;
let stub: SendGridStub;
let stack: TestStack;
let env: (extra?: Record<string, string>) => Record<string, string>;

beforeAll(async () => {
  stub = await startSendGridStub();
  const common = {
    SENDGRID_API_KEY: stub.apiKey,
    SENDGRID_API_BASE_URL: stub.url,
    JOB_LOCK_LIFETIME: `${LOCK_LIFETIME_MS / 1000} seconds`,
    COMPLETION_SWEEP_INTERVAL: '1 hour',
  };
  stack = await startStack({ prefix: 'dupwindow', env: common });
  env = (extra = {}) => baseEnv(stack.mongoUri, { ...common, ...extra });
});

afterAll(async () => {
  await killLeftoverWorkers();
  await stack.stop();
  await stub.close();
});

const attemptsOf = (key: string) => EmailDelivery.find({ key }).sort({ attempt: 1 }).lean();

test('a worker killed after SendGrid accepted an email: sent once more after the lock lifetime, both attempts recorded', async () => {
  const customer = await stack.signUp();
  const doomed = await startWorkerProcess(env({ CRASH_POINT: 'after-email-sent' }));
  const res = await stack.createReservation(customer.token);
  const key = res.history[0].id as string;

  expect(await doomed.exited).toBe('SIGKILL');
  const first = await stub.waitFor(1, 15_000);
  expect(first.map((m) => m.customArgs.idempotency_key)).toEqual([key]);
  const left = await attemptsOf(key);
  expect(left.map((a) => [a.attempt, a.state])).toEqual([[1, 'sending']]);

  const worker = await startWorkerProcess(env());
  try {
    const both = await stub.waitFor(2, 30_000);
    await emailJobsSettled(30_000);
    // The duplicate: the same email, the same key, sent by the second worker once the first attempt was abandoned.
    expect(both.map((m) => [m.subject, m.customArgs.idempotency_key])).toEqual([
      [`🔔 New Reservation #${res.reference} - Action Required`, key],
      [`🔔 New Reservation #${res.reference} - Action Required`, key],
    ]);
    const attempts = await attemptsOf(key);
    expect(attempts.map((a) => [a.attempt, a.state])).toEqual([
      [1, 'sending'],
      [2, 'sent'],
    ]);
    expect(attempts[1]!.claimedAt.getTime() - attempts[0]!.claimedAt.getTime()).toBeGreaterThanOrEqual(LOCK_LIFETIME_MS);
    // And no third: the second attempt is recorded as sent.
    expect(stub.messages.filter((m) => m.customArgs.idempotency_key === key)).toHaveLength(2);
  } finally {
    await stopProcess(worker);
  }
}, 90_000);

test('an attempt still in progress elsewhere makes the job come back later, without failing or using an attempt', async () => {
  stub.reset();
  const customer = await stack.signUp();
  // Another run is sending this email right now (as far as the database says): its attempt is fresh.
  const res = await stack.createReservation(customer.token);
  const key = res.history[0].id as string;
  await EmailDelivery.collection.insertOne({
    _id: `${key}#1`,
    key,
    attempt: 1,
    state: 'sending',
    claimedAt: new Date(),
    transport: 'sendgrid',
  } as never);

  const worker = await startWorkerProcess(env());
  try {
    await worker.waitForLine(/email is being sent by another run; checking again later/, 15_000);
    // Saved by Agenda once the run returns: the job is rescheduled, not failed.
    const job = await pollUntil(
      () => mongoose.connection.collection(AGENDA_COLLECTION).findOne({ _id: jobIdFor(`email:${key}`) }),
      (j) => j?.nextRunAt != null || (j?.failCount ?? 0) > 0,
      'the deferred job to be saved',
      15_000,
    );
    expect(job).not.toBeNull();
    expect(job!.failCount ?? 0).toBe(0);
    expect(job!.nextRunAt).not.toBeNull();
    expect(stub.messages).toHaveLength(0);

    // Once that attempt counts as abandoned, this worker sends the email: attempt 2, the first it made.
    await stub.waitFor(1, 30_000);
    await emailJobsSettled(30_000);
    expect((await attemptsOf(key)).map((a) => [a.attempt, a.state])).toEqual([
      [1, 'sending'],
      [2, 'sent'],
    ]);
    expect(worker.lines.filter((l) => /"job failed"|job gave up/.test(l))).toEqual([]);
  } finally {
    await stopProcess(worker);
  }
}, 90_000);
