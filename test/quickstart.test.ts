// The new user's first five minutes, as a test: `npm start` with nothing configured, then the curl flow.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gql, codeOf } from './support/stack.js';
import { ROOT, runCli, startApiProcess, stopProcess, type Proc } from './support/processes.js';
import { pollUntil } from './support/poll.js';

let dataDir: string;
let server: (Proc & { url: string }) | undefined;

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickstart-'));
});
afterAll(async () => {
  await stopProcess(server, 'SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Where emails go with nothing configured: `./.data/outbox` of the folder `npm start` runs in. */
const OUTBOX = path.join(ROOT, '.data', 'outbox');
/** The files this test found there, removed afterwards. */
const written: string[] = [];
afterAll(() => {
  for (const file of written) fs.rmSync(file, { force: true });
});

/** The outbox email about status event `key` (one JSON file per email, named after its key), once written. */
async function outboxEmail(key: string): Promise<Record<string, string>> {
  const file = await pollUntil(
    async () => (fs.existsSync(OUTBOX) ? fs.readdirSync(OUTBOX).find((f) => f.endsWith(`-${key}.json`)) : undefined),
    (found) => found !== undefined,
    `the outbox email of event ${key}`,
    30_000,
  );
  written.push(path.join(OUTBOX, file!));
  return JSON.parse(fs.readFileSync(path.join(OUTBOX, file!), 'utf8'));
}

test('npm start without MONGODB_URI runs everything on an embedded database; the documented flow works', async () => {
  const env = { DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'development', LOG_LEVEL: 'info' };
  server = await startApiProcess(env);
  expect(server.lines.join('\n')).toMatch(/embedded database ready/);
  const url = server.url;
  // It prints the URL of the IDE.
  expect(await server.waitForLine(/GraphQL API and IDE:/)).toBe(`  GraphQL API and IDE: ${url}`);

  const signUp = await gql(url, `mutation { signUp(input: { email: "sam@example.com", username: "sam", password: "a long password", firstName: "Sam" }) { token user { id } } }`);
  expect(signUp.errors).toBeUndefined();
  const customer = signUp.data.signUp.token;

  const start = new Date(Date.now() + 2 * 3_600_000).toISOString();
  const created = await gql(url, `mutation { createReservation(input: { startTime: "${start}", partySize: 2 }) { id reference status history { id } } }`, undefined, customer);
  expect(created.data.createReservation.status).toBe('PENDING');
  const { id, reference } = created.data.createReservation;
  // The in-process worker emails the admin, to the outbox folder (no SendGrid key).
  expect(await outboxEmail(created.data.createReservation.history[0].id)).toMatchObject({
    to: 'admin@example.com',
    from: 'Reservations <noreply@example.com>',
    subject: `🔔 New Reservation #${reference} - Action Required`,
    key: created.data.createReservation.history[0].id,
  });

  const cli = await runCli('cli/create-admin.js', env, ['--email', 'boss@example.com', '--password', 'admin secret 1']);
  expect(cli.output).toMatch(/Created admin boss@example.com/);
  expect(cli.code).toBe(0);

  const login = await gql(url, `mutation { logIn(email: "boss@example.com", password: "admin secret 1") { token user { role } } }`);
  expect(login.data.logIn.user.role).toBe('ADMIN');
  const admin = login.data.logIn.token;

  const confirmed = await gql(url, `mutation { confirmReservation(id: "${id}") { status history { id } } }`, undefined, admin);
  expect(confirmed.data.confirmReservation.status).toBe('CONFIRMED');
  const confirmation = await outboxEmail(confirmed.data.confirmReservation.history[1].id);
  expect(confirmation).toMatchObject({ to: 'sam@example.com', subject: 'Your Reservation is Confirmed!' });
  expect(confirmation.text).toMatch(/^Hi Sam,\n/);

  const cancelled = await gql(url, `mutation { cancelReservation(id: "${id}", reason: "Sick") { status cancellationReason history { id from to actor } } }`, undefined, customer);
  expect(cancelled.data.cancelReservation).toMatchObject({ status: 'CANCELLED', cancellationReason: 'Sick' });
  expect(cancelled.data.cancelReservation.history.map((e: any) => e.to)).toEqual(['PENDING', 'CONFIRMED', 'CANCELLED']);
  const cancellation = await outboxEmail(cancelled.data.cancelReservation.history[2].id);
  expect(cancellation).toMatchObject({ to: 'sam@example.com', subject: 'Your Reservation has been Cancelled' });
  expect(cancellation.text).toContain('Sick');

  const again = await gql(url, `mutation { confirmReservation(id: "${id}") { status } }`, undefined, admin);
  expect(codeOf(again)).toBe('INVALID_TRANSITION');

  // Ctrl-C: a clean exit, and the embedded database goes with it.
  const dbUri = JSON.parse(fs.readFileSync(path.join(dataDir, 'embedded.json'), 'utf8')).uri as string;
  expect(await stopProcess(server, 'SIGINT')).toBe(0);
  server = undefined;
  const port = Number(new URL(dbUri).port);
  const { connect } = await import('node:net');
  await expect(
    new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        reject(new Error('embedded database still listening'));
      });
      s.on('error', resolve);
    }),
  ).resolves.toBeDefined();
}, 180_000);
