// Log-in: enumeration-safe (an unknown email and a wrong password look and take the same) and rate-limited per
// email and per client address, with the counts kept in MongoDB so every API server enforces the same limits.
import { randomBytes } from 'node:crypto';
import type { ApiServer } from '../src/app.js';
import { startApiProcess, stopProcess, type Proc } from './support/processes.js';
import { baseEnv, freshDatabaseUri, gql, startStack, type GqlResult, type TestStack } from './support/stack.js';

const LOG_IN = `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token user { id } } }`;
const PASSWORD = 'correct horse battery';

/** A log-in as sent by a client at `from` (through a trusted proxy's X-Forwarded-For, where one is trusted). */
async function logIn(url: string, email: string, password: string, from?: string): Promise<GqlResult & { ms: number }> {
  const started = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(from ? { 'x-forwarded-for': from } : {}) },
    body: JSON.stringify({ query: LOG_IN, variables: { e: email, p: password } }),
  });
  const body = (await res.json()) as Pick<GqlResult, 'data' | 'errors'>;
  return { status: res.status, ...body, headers: res.headers, ms: performance.now() - started };
}

const codeOf = (r: GqlResult) => r.errors?.[0]?.extensions?.code;
const newEmail = () => `nobody-${randomBytes(4).toString('hex')}@example.com`;
let addresses = 0;
/** A client address no other test uses (TEST-NET-3). */
const newAddress = () => `203.0.113.${++addresses}`;

function expectTooMany(r: GqlResult, windowSeconds: number): number {
  expect(r.status).toBe(429);
  expect(r.data).toBeNull();
  expect(r.errors).toHaveLength(1);
  const [error] = r.errors!;
  expect(error!.extensions).toMatchObject({ code: 'TOO_MANY_REQUESTS', retryAfterSeconds: expect.any(Number) });
  expect(error!.extensions).not.toHaveProperty('http');
  const seconds = error!.extensions!.retryAfterSeconds as number;
  expect(seconds).toBeGreaterThanOrEqual(1);
  expect(seconds).toBeLessThanOrEqual(windowSeconds);
  expect(error!.message).toBe(
    `Too many failed log-in attempts; try again in ${seconds} second${seconds === 1 ? '' : 's'}`,
  );
  expect(r.headers.get('retry-after')).toBe(String(seconds));
  return seconds;
}

function expectInvalid(r: GqlResult) {
  expect(r.errors?.map((e) => [e.extensions?.code, e.message])).toEqual([
    ['UNAUTHENTICATED', 'Invalid email or password'],
  ]);
  expect(r.data).toBeNull();
}

describe('on one API server', () => {
  let stack: TestStack;
  let untrusting: ApiServer;
  const signUp = async () => (await stack.signUp({ password: PASSWORD })).email;

  beforeAll(async () => {
    stack = await startStack({
      prefix: 'login',
      // The tests stand behind a proxy on loopback, so X-Forwarded-For gives each test its own client address.
      env: {
        LOGIN_MAX_ATTEMPTS: '3',
        LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '5',
        LOGIN_WINDOW: '1 minute',
        TRUST_PROXY: 'loopback',
      },
    });
    // The same database and limits, on a server that trusts no proxy (the default).
    untrusting = await stack.startApi({ TRUST_PROXY: '' });
  });
  afterAll(async () => {
    await untrusting.stop();
    await stack.stop();
  });

  // Both also verify a password hash (an unknown email against a dummy one), so neither is measurably faster; that
  // is a timing, which belongs in a benchmark, not in the suite.
  test('a wrong password and an unknown email get the same answer', async () => {
    const known = [await signUp(), await signUp()];
    for (let i = 0; i < 5; i++) {
      const w = await logIn(stack.url, known[i % 2]!, 'not the password', newAddress());
      const u = await logIn(stack.url, newEmail(), 'not the password', newAddress());
      expectInvalid(w);
      expectInvalid(u);
      expect([w.status, u.status]).toEqual([200, 200]);
      expect({ data: u.data, errors: u.errors }).toEqual({ data: w.data, errors: w.errors });
      expect(u.headers.get('content-type')).toBe(w.headers.get('content-type'));
    }
  });

  test('past LOGIN_MAX_ATTEMPTS failures for an email, even the right password is refused with 429 and a retry-after', async () => {
    const email = await signUp();
    // From a different address each time: the limit follows the email.
    for (let i = 0; i < 3; i++) expectInvalid(await logIn(stack.url, email, `wrong ${i}`, newAddress()));
    expectTooMany(await logIn(stack.url, email, PASSWORD, newAddress()), 60);
    // Refusals are not failures: they do not push the retry-after further out.
    const again = expectTooMany(await logIn(stack.url, email, 'wrong again', newAddress()), 60);
    expect(again).toBeGreaterThan(55);
  });

  test('an unknown email is limited exactly like a known one, so the limit reveals nothing', async () => {
    const email = newEmail();
    for (let i = 0; i < 3; i++) expectInvalid(await logIn(stack.url, email, `wrong ${i}`, newAddress()));
    expectTooMany(await logIn(stack.url, email, PASSWORD, newAddress()), 60);
  });

  test('emails are counted as logIn matches them: in any letter case, with surrounding spaces', async () => {
    const email = await signUp();
    for (const variant of [email.toUpperCase(), ` ${email} `, email])
      expectInvalid(await logIn(stack.url, variant, 'wrong', newAddress()));
    expectTooMany(await logIn(stack.url, email, PASSWORD, newAddress()), 60);
  });

  test("a successful log-in clears the email's earlier failures", async () => {
    const email = await signUp();
    for (let i = 0; i < 2; i++) expectInvalid(await logIn(stack.url, email, `wrong ${i}`, newAddress()));
    expect((await logIn(stack.url, email, PASSWORD, newAddress())).data.logIn.token).toEqual(expect.any(String));
    for (let i = 0; i < 3; i++) expectInvalid(await logIn(stack.url, email, `wrong ${i}`, newAddress()));
    expectTooMany(await logIn(stack.url, email, PASSWORD, newAddress()), 60);
  });

  test('past LOGIN_MAX_ATTEMPTS_PER_ADDRESS failures from one address, whatever the emails, that address is refused; others are not', async () => {
    const from = newAddress();
    for (let i = 0; i < 5; i++) expectInvalid(await logIn(stack.url, newEmail(), 'guess', from));
    const email = await signUp();
    expectTooMany(await logIn(stack.url, email, PASSWORD, from), 60);
    expect((await logIn(stack.url, email, PASSWORD, newAddress())).data.logIn.token).toEqual(expect.any(String));
  });

  test('an IPv6 client is counted by its /64, through which it could otherwise rotate', async () => {
    for (let i = 1; i <= 5; i++) expectInvalid(await logIn(stack.url, newEmail(), 'guess', `2001:db8:1:2::${i}`));
    const email = await signUp();
    expectTooMany(await logIn(stack.url, email, PASSWORD, '2001:db8:1:2:ffff:ffff:ffff:ffff'), 60);
    expect((await logIn(stack.url, email, PASSWORD, '2001:db8:1:3::1')).data.logIn.token).toEqual(expect.any(String));
  });

  test('a burst of concurrent guesses gets no more than LOGIN_MAX_ATTEMPTS of them checked', async () => {
    const email = await signUp();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => logIn(stack.url, email, `guess ${i}`, newAddress())),
    );
    const checked = results.filter((r) => codeOf(r) === 'UNAUTHENTICATED').length;
    expect(checked).toBeLessThanOrEqual(3);
    expect(results.filter((r) => codeOf(r) === 'TOO_MANY_REQUESTS')).toHaveLength(12 - checked);
    // However the burst went, the guesses checked in the window add up to the limit and no more.
    for (let i = checked; i < 3; i++) expectInvalid(await logIn(stack.url, email, `later guess ${i}`, newAddress()));
    expectTooMany(await logIn(stack.url, email, PASSWORD, newAddress()), 60);
  });

  test('a server that trusts no proxy ignores X-Forwarded-For: claiming other addresses does not escape the limit', async () => {
    // Each request claims a new address; all come from 127.0.0.1, which is what this server counts.
    for (let i = 0; i < 5; i++) expectInvalid(await logIn(untrusting.url, newEmail(), 'guess', newAddress()));
    expectTooMany(await logIn(untrusting.url, newEmail(), 'guess', newAddress()), 60);
  });
});

describe('across two API servers on one database', () => {
  let api1: Proc & { url: string };
  let api2: Proc & { url: string };
  let email: string;

  beforeAll(async () => {
    const env = baseEnv(freshDatabaseUri('loginx'), {
      LOGIN_MAX_ATTEMPTS: '3',
      LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '5',
      LOGIN_WINDOW: '4 seconds',
      LOG_LEVEL: 'info', // the processes announce their URL at info
    });
    [api1, api2] = await Promise.all([startApiProcess(env), startApiProcess(env)]);
    email = `shared-${randomBytes(4).toString('hex')}@example.com`;
    const r = await gql(api1.url, `mutation($i: SignUpInput!) { signUp(input: $i) { token } }`, {
      i: { email, username: `shared${randomBytes(4).toString('hex')}`, password: PASSWORD },
    });
    expect(r.errors).toBeUndefined();
  }, 90_000);
  afterAll(async () => {
    await Promise.all([stopProcess(api1), stopProcess(api2)]);
  });

  test("an email's failures on one server count on the other, and the retry-after is when it may log in again", async () => {
    expectInvalid(await logIn(api1.url, email, 'wrong 1'));
    expectInvalid(await logIn(api2.url, email, 'wrong 2'));
    expectInvalid(await logIn(api1.url, email, 'wrong 3'));
    const seconds = expectTooMany(await logIn(api2.url, email, PASSWORD), 4);
    // What a client told to retry after N seconds does; the limit is the very thing under test.
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const r = await logIn(api1.url, email, PASSWORD);
    expect(r.errors).toBeUndefined();
    expect(r.data.logIn.token).toEqual(expect.any(String));
  });

  test("an address's failures on one server count on the other", async () => {
    for (let i = 0; i < 5; i++) expectInvalid(await logIn(i % 2 ? api2.url : api1.url, newEmail(), 'guess'));
    expectTooMany(await logIn(api2.url, newEmail(), 'guess'), 4);
    expectTooMany(await logIn(api1.url, email, PASSWORD), 4);
  });
});
