// What the logs of a production deployment hold, at their most verbose (LOG_LEVEL=debug): an API process and a
// worker process, driven through sign-up, log-ins, a reservation, its confirmation (emails, one of them failing
// once), the job dashboard and refused tokens. Every line they print is JSON; the lines operators need are there;
// no password, token, API key, JWT secret or email body is in any of them.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { connectLive } from './support/live.js';
import { ROOT, runCli, startApiProcess, startProcess, stopProcess, type Proc } from './support/processes.js';
import { startSendGridStub, type SendGridStub } from './support/sendgrid-stub.js';
import { freshDatabaseUri, gql, inOneHour } from './support/stack.js';

const secret = (label: string) => `${label}-${randomBytes(9).toString('base64url')}`;
const JWT_SECRET = secret('jwt-secret');
const API_KEY = `SG.${secret('sendgrid-key')}`;
const CUSTOMER_PASSWORD = secret('customer-pw');
const WRONG_PASSWORD = secret('wrong-pw');
const ADMIN_PASSWORD = secret('admin-pw');
/** In the customer's name, so it is in both parts of their email. */
const MARKER = `Zq${randomBytes(4).toString('hex')}`;

let stub: SendGridStub;
let api: Proc & { url: string };
let worker: Proc;
let cliOutput: string;
let reservationId: string;
/** Every line both processes printed, stdout and stderr. */
let lines: string[];
/** Values that must never be logged, by what they are. */
const secrets: Record<string, string> = {
  'the JWT secret': JWT_SECRET,
  'the SendGrid API key': API_KEY,
  "the customer's password": CUSTOMER_PASSWORD,
  'a wrong password': WRONG_PASSWORD,
  "the admin's password": ADMIN_PASSWORD,
  // Issued while the test runs:
  'the token from signUp': '',
  'the token from logIn': '',
  "the admin's token": '',
  'Basic credentials': '',
  'wrong Basic credentials': '',
};

beforeAll(async () => {
  stub = await startSendGridStub({ apiKey: API_KEY });
  const env = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'debug',
    MONGODB_URI: freshDatabaseUri('logs'),
    JWT_SECRET,
    SENDGRID_API_KEY: API_KEY,
    SENDGRID_API_BASE_URL: stub.url,
    PUBLIC_URL: 'https://book.restaurant.test',
    HOST: '127.0.0.1',
    PORT: '0',
    WORKER_HEALTH_PORT: '0',
    ADMIN_EMAIL: 'owner@restaurant.test',
    JOB_POLL_INTERVAL: '200 ms',
    EMAIL_RETRY_DELAY: '200 ms',
    COMPLETION_SWEEP_INTERVAL: '1 hour',
  };
  const admin = `ops${randomBytes(4).toString('hex')}@restaurant.test`;
  const created = await runCli('cli/create-admin.js', env, ['--email', admin, '--password', ADMIN_PASSWORD]);
  expect(created.code).toBe(0);
  cliOutput = created.output;

  api = await startApiProcess(env);
  worker = startProcess('worker.js', env);
  await worker.waitForLine(/worker ready/, 60_000);

  const call = (query: string, variables?: Record<string, unknown>, token?: string) => gql(api.url, query, variables, token);
  const email = `c${randomBytes(4).toString('hex')}@example.com`;
  const signUp = await call(`mutation SignUp($i: SignUpInput!) { signUp(input: $i) { token user { id } } }`, {
    i: { email, username: email.split('@')[0], password: CUSTOMER_PASSWORD, firstName: MARKER, lastName: 'Lovelace' },
  });
  secrets['the token from signUp'] = signUp.data.signUp.token;
  const logIn = (e: string, p: string) => call(`mutation LogIn($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }`, { e, p });
  const wrong = await logIn(email, WRONG_PASSWORD);
  expect(wrong.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  const customerToken = (secrets['the token from logIn'] = (await logIn(email, CUSTOMER_PASSWORD)).data.logIn.token);
  const adminToken = (secrets["the admin's token"] = (await logIn(admin, ADMIN_PASSWORD)).data.logIn.token);

  // The first email fails (SendGrid answers 500) and is retried.
  stub.failNext(1, 500);
  const created2 = await call(
    `mutation Book($i: CreateReservationInput!) { createReservation(input: $i) { id } }`,
    { i: { startTime: inOneHour(), partySize: 2 } },
    customerToken,
  );
  reservationId = created2.data.createReservation.id;
  const confirmed = await call(`mutation Confirm($id: ID!) { confirmReservation(id: $id) { status } }`, { id: reservationId }, adminToken);
  expect(confirmed.data).toEqual({ confirmReservation: { status: 'CONFIRMED' } });
  await stub.waitFor(2, 15_000);

  // Refused tokens, over HTTP and WebSocket, and the job dashboard signed in both ways and refused.
  const tampered = `${customerToken.slice(0, -6)}AAAAAA`;
  expect((await call('query { me { id } }', {}, tampered)).status).toBe(401);
  const socket = connectLive(api.url, tampered);
  expect((await socket.closed).code).toBe(4403);
  const dashboard = new URL('/admin/jobs/api', api.url);
  const basic = (p: string) => `Basic ${Buffer.from(`${admin}:${p}`).toString('base64')}`;
  secrets['Basic credentials'] = basic(ADMIN_PASSWORD).slice('Basic '.length);
  secrets['wrong Basic credentials'] = basic(WRONG_PASSWORD).slice('Basic '.length);
  expect((await fetch(dashboard, { headers: { authorization: basic(ADMIN_PASSWORD) } })).status).toBe(200);
  expect((await fetch(dashboard, { headers: { authorization: basic(WRONG_PASSWORD) } })).status).toBe(401);
  expect((await fetch(dashboard, { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(200);

  await worker.waitForLine(/"msg":"email sent".*"kind":"reservation-confirmed"|"kind":"reservation-confirmed".*"msg":"email sent"/, 10_000);
  expect(await stopProcess(api)).toBe(0);
  expect(await stopProcess(worker)).toBe(0);
  lines = [...api.lines, ...worker.lines];
});
afterAll(async () => {
  await stopProcess(api, 'SIGKILL');
  await stopProcess(worker, 'SIGKILL');
  await stub?.close();
});

const records = () => lines.map((l) => JSON.parse(l) as Record<string, any>);

test('in production every line is JSON, and LOG_LEVEL=debug lets debug lines through', () => {
  expect(lines.length).toBeGreaterThan(10);
  expect(lines.filter((l) => !/^\{.*\}$/.test(l) || !isJson(l))).toEqual([]);
  // One value per field: a child logger repeating its parent's binding writes the key twice.
  expect(lines.filter((l) => /"component":"[^"]*".*"component":/.test(l))).toEqual([]);
  expect(records().some((r) => r.level === 20)).toBe(true);
});

test.each(Object.keys(secrets))('no line holds %s', (what) => {
  const value = secrets[what]!;
  expect(value.length).toBeGreaterThan(15);
  expect(lines.filter((l) => l.includes(value))).toEqual([]);
  expect(cliOutput).not.toContain(value);
  if (/token/.test(what)) {
    // Nor the token's signature on its own.
    const signature = value.split('.')[2]!;
    expect(lines.filter((l) => l.includes(signature))).toEqual([]);
  }
});

test("no line holds an email's body, HTML or text, nor the customer's name that is in it", () => {
  expect(stub.messages.length).toBeGreaterThanOrEqual(2);
  const markup = /<!doctype|<html|<mjml|<body|<table|<\/p>/i;
  expect(lines.filter((l) => markup.test(l))).toEqual([]);
  for (const message of stub.messages) {
    const text = message.text.trim();
    const escaped = JSON.stringify(text).slice(1, -1);
    const firstTwoLines = JSON.stringify(text.split('\n').slice(0, 2).join('\n')).slice(1, -1);
    expect(lines.filter((l) => l.includes(text) || l.includes(escaped) || l.includes(firstTwoLines))).toEqual([]);
  }
  expect(stub.messages.some((m) => m.html.includes(MARKER) && m.text.includes(MARKER))).toBe(true);
  expect(lines.filter((l) => l.includes(MARKER))).toEqual([]);
});

test('one line per GraphQL operation: its name, duration, outcome and user id', () => {
  const ops = records().filter((r) => r.msg === 'graphql operation');
  const byName = (name: string) => ops.filter((r) => r.operation === name);
  expect(byName('SignUp')).toEqual([expect.objectContaining({ type: 'mutation', outcome: 'ok', userId: null, durationMs: expect.any(Number) })]);
  expect(byName('LogIn').map((r) => [r.outcome, r.errorCodes ?? null])).toEqual([
    ['error', ['UNAUTHENTICATED']],
    ['ok', null],
    ['ok', null],
  ]);
  expect(byName('Book')).toEqual([expect.objectContaining({ outcome: 'ok', userId: expect.stringMatching(/^[0-9a-f]{24}$/) })]);
  expect(byName('Confirm')).toEqual([expect.objectContaining({ outcome: 'ok', userId: expect.stringMatching(/^[0-9a-f]{24}$/) })]);
});

test('job lines carry the job and reservation ids: a failure, its retry, and the emails sent', () => {
  const worker = records().filter((r) => r.component === 'worker');
  // Whichever email went out first met the failure.
  const failed = worker.find((r) => r.msg === 'job failed');
  expect(failed).toMatchObject({ job: expect.stringMatching(/^send-/), jobId: expect.stringMatching(/^[0-9a-f]{24}$/), reservationId, attempt: 1 });
  expect(failed!.err.message).toMatch(/HTTP 500/);
  expect(worker.find((r) => r.msg === 'job will be retried')).toMatchObject({ jobId: failed!.jobId, reservationId: failed!.reservationId });
  const sent = worker.filter((r) => r.msg === 'email sent');
  expect(sent.map((r) => r.kind).sort()).toEqual(['new-reservation-admin', 'reservation-confirmed']);
  for (const r of sent) expect(r.reservationId).toBe(reservationId);
});

test('in development, on a terminal, lines are pretty (pino-pretty) rather than JSON', async () => {
  // `script` (util-linux) runs the server on a pseudo-terminal, as a developer's shell would.
  const server = `exec '${process.execPath}' '${path.join(ROOT, 'dist', 'src', 'server.js')}'`;
  const child = spawn('script', ['-qefc', server, '/dev/null'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME!, TERM: 'dumb', NODE_ENV: 'development', LOG_LEVEL: 'info', MONGODB_URI: freshDatabaseUri('pretty'), HOST: '127.0.0.1', PORT: '0' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let output = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line within 30 s:\n${output}`)), 30_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (/GraphQL API ready/.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  expect(output).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: GraphQL API ready at http:\/\/127\.0\.0\.1:\d+\/graphql\r?\n {4}url: "http/m);
  expect(output).not.toMatch(/^\{"level"/m);
});

function isJson(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}
