// Without a SendGrid key, the worker writes each email to the outbox folder instead.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pollUntil } from './support/poll.js';
import { startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { baseEnv, startStack, type TestStack } from './support/stack.js';
import { emailJobsSettled } from './support/worker.js';

let outbox: string;
let stack: TestStack;
let worker: Proc;

beforeAll(async () => {
  outbox = await mkdtemp(path.join(os.tmpdir(), 'outbox-'));
  stack = await startStack({ prefix: 'outbox', env: { MAIL_OUTBOX_DIR: outbox } });
  worker = await startWorkerProcess(baseEnv(stack.mongoUri, { MAIL_OUTBOX_DIR: outbox, COMPLETION_SWEEP_INTERVAL: '1 hour' }));
});

afterAll(async () => {
  await stopProcess(worker);
  await stack.stop();
  await rm(outbox, { recursive: true, force: true });
});

test('with no SendGrid key, each email is one JSON file in the outbox', async () => {
  const [customer, admin] = await Promise.all([stack.signUp({ firstName: 'Olive' }), stack.admin()]);
  const res = await stack.createReservation(customer.token, { startTime: '2031-03-14T18:30:00.000Z' });
  const r = await stack.gql(`mutation($id: ID!) { confirmReservation(id: $id) { history { id } } }`, { id: res.id }, admin.token);
  expect(r.errors).toBeUndefined();

  // Finished files only: an email being written is a hidden temporary file until it is renamed into place.
  const written = async () => (await readdir(outbox)).filter((f) => !f.startsWith('.'));
  const files = await pollUntil(written, (f) => f.length >= 2, 'two outbox files');
  await emailJobsSettled();
  expect(await written()).toHaveLength(2);

  const emails = await Promise.all(files.map(async (f) => JSON.parse(await readFile(path.join(outbox, f), 'utf8'))));
  const bySubject = Object.fromEntries(emails.map((e) => [e.subject, e]));
  const keys = r.data.confirmReservation.history.map((h: { id: string }) => h.id);
  expect(bySubject[`🔔 New Reservation #${res.reference} - Action Required`]).toMatchObject({
    to: 'owner@restaurant.test',
    from: 'Reservations <noreply@restaurant.test>',
    key: keys[0],
    sentAt: expect.any(String),
  });
  expect(bySubject['Your Reservation is Confirmed!']).toMatchObject({ to: customer.email, key: keys[1] });
  expect(bySubject['Your Reservation is Confirmed!'].text).toMatch(/^Hi Olive,\n/);
  expect(bySubject['Your Reservation is Confirmed!'].html).toContain(res.reference);
});
