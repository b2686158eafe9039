// The new user's first five minutes, as a test: `npm start` with nothing configured, then the curl flow.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gql, codeOf } from './support/stack.js';
import { runCli, startApiProcess, stopProcess, type Proc } from './support/processes.js';

let dataDir: string;
let server: (Proc & { url: string }) | undefined;

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickstart-'));
});
afterAll(async () => {
  await stopProcess(server, 'SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('npm start without MONGODB_URI runs everything on an embedded database; the documented flow works', async () => {
  const env = { DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'development', LOG_LEVEL: 'info' };
  server = await startApiProcess(env);
  expect(server.lines.join('\n')).toMatch(/embedded database ready/);
  const url = server.url;

  const signUp = await gql(url, `mutation { signUp(input: { email: "sam@example.com", username: "sam", password: "a long password", firstName: "Sam" }) { token user { id } } }`);
  expect(signUp.errors).toBeUndefined();
  const customer = signUp.data.signUp.token;

  const start = new Date(Date.now() + 2 * 3_600_000).toISOString();
  const created = await gql(url, `mutation { createReservation(input: { startTime: "${start}", partySize: 2 }) { id status } }`, undefined, customer);
  expect(created.data.createReservation.status).toBe('PENDING');
  const id = created.data.createReservation.id;

  const cli = await runCli('cli/create-admin.js', env, ['--email', 'boss@example.com', '--password', 'admin secret 1']);
  expect(cli.output).toMatch(/Created admin boss@example.com/);
  expect(cli.code).toBe(0);

  const login = await gql(url, `mutation { logIn(email: "boss@example.com", password: "admin secret 1") { token user { role } } }`);
  expect(login.data.logIn.user.role).toBe('ADMIN');
  const admin = login.data.logIn.token;

  const confirmed = await gql(url, `mutation { confirmReservation(id: "${id}") { status } }`, undefined, admin);
  expect(confirmed.data.confirmReservation.status).toBe('CONFIRMED');

  const cancelled = await gql(url, `mutation { cancelReservation(id: "${id}", reason: "Sick") { status cancellationReason history { from to actor } } }`, undefined, customer);
  expect(cancelled.data.cancelReservation).toMatchObject({ status: 'CANCELLED', cancellationReason: 'Sick' });
  expect(cancelled.data.cancelReservation.history.map((e: any) => e.to)).toEqual(['PENDING', 'CONFIRMED', 'CANCELLED']);

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
