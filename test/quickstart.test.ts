// The new user's first five minutes, as a test: `npm start` with nothing configured, then the README's "Try it"
// commands, read from the README itself (a README change that breaks them fails here).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gql, codeOf } from './support/stack.js';
import { ROOT, startApiProcess, stopProcess, type Proc } from './support/processes.js';
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

/** The commands of the README's "Try it in a second terminal" block, one per line. */
function readmeTryItCommands(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = /^### Try it in a second terminal\n([\s\S]*?)^#/m.exec(readme)?.[1] ?? '';
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** Runs `command` with bash in the repository, as a user would type it, with `env` on top of PATH and HOME. */
function shell(command: string, env: Record<string, string>): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-c', command],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
  });
}

test("npm start without MONGODB_URI runs everything on an embedded database; the README's Try it commands work as written", async () => {
  const env = { DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'development', LOG_LEVEL: 'info' };
  server = await startApiProcess(env);
  expect(server.lines.join('\n')).toMatch(/embedded database ready/);
  const url = server.url;
  // It prints the URL of the IDE.
  expect(await server.waitForLine(/GraphQL API and IDE:/)).toBe(`  GraphQL API and IDE: ${url}`);

  // The README's "Try it" commands, exactly as written there, each in a shell, as in a second terminal. (The test
  // server listens on a port of its own: API_URL says where, and DATA_DIR is the same as the server's.)
  const commands = readmeTryItCommands();
  expect(commands).toEqual([expect.stringMatching(/^npm run create-admin -- /), 'node scripts/try-it.mjs']);
  const outputs: string[] = [];
  for (const command of commands) {
    const { code, output } = await shell(command, { DATA_DIR: dataDir, API_URL: url });
    expect({ command, code, output }).toMatchObject({ command, code: 0 });
    outputs.push(output);
  }
  expect(outputs[0]).toMatch(/Created admin boss@example\.com \(username boss\)/);
  const tour = outputs[1]!;
  const reference = /Done: reservation ([0-9A-Z]{8}) went PENDING → CONFIRMED → CANCELLED\./.exec(tour)?.[1];
  expect(reference).toBeDefined();

  // What the tour did, seen by the admin it made.
  const login = await gql(url, `mutation { logIn(email: "boss@example.com", password: "admin secret 1") { token user { role } } }`);
  expect(login.data.logIn.user.role).toBe('ADMIN');
  const admin = login.data.logIn.token;
  const list = await gql(url, `{ reservations(first: 100) { nodes { id reference partySize notes status cancellationReason customer { email firstName } history { id from to actor } } } }`, undefined, admin);
  const done = list.data.reservations.nodes.find((r: { reference: string }) => r.reference === reference);
  expect(done).toMatchObject({ partySize: 2, notes: 'Window seat, please', status: 'CANCELLED', cancellationReason: 'Change of plans', customer: { firstName: 'Sam' } });
  expect(done.history.map((e: any) => [e.from, e.to, e.actor.split(':')[0]])).toEqual([
    [null, 'PENDING', 'customer'],
    ['PENDING', 'CONFIRMED', 'admin'],
    ['CONFIRMED', 'CANCELLED', 'customer'],
  ]);

  // The in-process worker sent the three emails, to the outbox folder (no SendGrid key).
  expect(await outboxEmail(done.history[0].id)).toMatchObject({
    to: 'admin@example.com',
    from: 'Reservations <noreply@example.com>',
    subject: `🔔 New Reservation #${reference} - Action Required`,
    key: done.history[0].id,
  });
  const confirmation = await outboxEmail(done.history[1].id);
  expect(confirmation).toMatchObject({ to: done.customer.email, subject: 'Your Reservation is Confirmed!' });
  expect(confirmation.text).toMatch(/^Hi Sam,\n/);
  const cancellation = await outboxEmail(done.history[2].id);
  expect(cancellation).toMatchObject({ to: done.customer.email, subject: 'Your Reservation has been Cancelled' });
  expect(cancellation.text).toContain('Change of plans');

  const again = await gql(url, `mutation { confirmReservation(id: "${done.id}") { status } }`, undefined, admin);
  expect(codeOf(again)).toBe('INVALID_TRANSITION');

  // The usage line's optional part pasted with its brackets: refused, saying why.
  const pasted = await shell("npm run create-admin -- --email boss@example.com --password 'admin secret 1' [--username boss]", { DATA_DIR: dataDir });
  expect(pasted.code).toBe(2);
  expect(pasted.output).toContain('square brackets in the usage mark an optional part');

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
