// Sign-ups per client address (SIGNUP_MAX_PER_ADDRESS, default 10 per SIGNUP_WINDOW, default 1 hour), counted in
// MongoDB: two API server processes on one database share the count, as servers behind one load balancer do.
import { randomBytes } from 'node:crypto';
import { connectDatabase, disconnectDatabase } from '../src/db/connect.js';
import { User } from '../src/models/user.js';
import { startApiProcess, stopProcess, type Proc } from './support/processes.js';
import { baseEnv, freshDatabaseUri, type GqlResult } from './support/stack.js';

let uri: string;
let first: Proc & { url: string };
let second: Proc & { url: string };

beforeAll(async () => {
  uri = freshDatabaseUri('signup');
  await connectDatabase(uri);
  // The harness lifts the limit for every other test (they all sign up from 127.0.0.1): here it is the default.
  const { SIGNUP_MAX_PER_ADDRESS: _lifted, ...env } = baseEnv(uri, { TRUST_PROXY: 'loopback' });
  [first, second] = await Promise.all([startApiProcess(env), startApiProcess(env)]);
}, 90_000);
afterAll(async () => {
  await Promise.all([stopProcess(first), stopProcess(second)]);
  await disconnectDatabase();
});

const SIGN_UP = 'mutation($input: SignUpInput!) { signUp(input: $input) { token user { email } } }';

/** A sign-up as a client at `address` (behind the proxy the servers trust, which names it in X-Forwarded-For). */
async function signUpFrom(url: string, address: string): Promise<GqlResult & { email: string }> {
  const id = randomBytes(5).toString('hex');
  const email = `new${id}@example.com`;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
    body: JSON.stringify({ query: SIGN_UP, variables: { input: { email, username: `new${id}`, password: 'long enough password' } } }),
  });
  const body = (await res.json()) as Pick<GqlResult, 'data' | 'errors'>;
  return { status: res.status, data: body.data, errors: body.errors, headers: res.headers, email };
}

function expectTooMany(r: GqlResult & { email: string }): void {
  expect(r.status).toBe(429);
  expect(r.data).toBeNull();
  const error = r.errors![0]!;
  expect(error.extensions!.code).toBe('TOO_MANY_REQUESTS');
  expect(error.message).toMatch(/^Too many sign-ups from this address; try again in \d+ seconds?$/);
  const retryAfter = Number(r.headers.get('retry-after'));
  expect(error.extensions!.retryAfterSeconds).toBe(retryAfter);
  // Within the hour the window lasts.
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(3600);
}

test('the 11th sign-up from one address is refused, whichever of two API servers the ten went to', async () => {
  const address = '198.51.100.11';
  for (let i = 0; i < 10; i++) {
    const r = await signUpFrom(i % 2 === 0 ? first.url : second.url, address);
    expect([i, r.errors]).toEqual([i, undefined]);
    expect(r.data.signUp.user.email).toBe(r.email);
  }
  const eleventh = await signUpFrom(second.url, address);
  expectTooMany(eleventh);
  expectTooMany(await signUpFrom(first.url, address));
  // Nothing was created for the refused ones.
  expect(await User.countDocuments({ email: eleventh.email })).toBe(0);

  // Another address is counted on its own.
  const other = await signUpFrom(first.url, '198.51.100.12');
  expect(other.errors).toBeUndefined();
});

test('a refused sign-up (an email already taken) counts: probing which emails exist is what the limit slows', async () => {
  const address = '198.51.100.21';
  const taken = await signUpFrom(first.url, address);
  expect(taken.errors).toBeUndefined();
  for (let i = 0; i < 9; i++) {
    const res = await fetch(second.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
      body: JSON.stringify({
        query: SIGN_UP,
        variables: { input: { email: taken.email, username: `probe${i}${randomBytes(3).toString('hex')}`, password: 'long enough password' } },
      }),
    });
    const body = (await res.json()) as Pick<GqlResult, 'errors'>;
    expect(body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
  }
  expectTooMany(await signUpFrom(first.url, address));
});

test('a burst of 20 concurrent sign-ups from one address across both servers lets at most 10 through', async () => {
  const address = '198.51.100.31';
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => signUpFrom(i % 2 === 0 ? first.url : second.url, address)));
  const created = results.filter((r) => !r.errors);
  expect(created.length).toBeLessThanOrEqual(10);
  for (const r of results.filter((x) => x.errors)) expect(r.errors![0]!.extensions!.code).toBe('TOO_MANY_REQUESTS');
  expect(await User.countDocuments({ email: { $in: results.map((r) => r.email) } })).toBe(created.length);
});
