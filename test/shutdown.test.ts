// SIGTERM on a real API process: it stops accepting connections, finishes the request it is in the middle of,
// closes subscriptions with 1001 Going Away, and exits 0 within 10 s.
import http from 'node:http';
import { signUp } from './support/graphql.js';
import { connectLive, STATUS_CHANGED, untilSubscribed, type Change } from './support/live.js';
import { startApiProcess, stopProcess, type Proc } from './support/processes.js';
import { baseEnv, freshDatabaseUri } from './support/stack.js';
import { pollUntil } from './support/poll.js';

let api: Proc & { url: string };

beforeAll(async () => {
  api = await startApiProcess(baseEnv(freshDatabaseUri('shutdown')));
});
afterAll(() => stopProcess(api, 'SIGKILL'));

/**
 * A request the server is in the middle of: its headers are in (the server's `100 Continue` proves it) and its
 * body is still coming. `finish()` sends the rest and resolves with the response.
 */
async function requestInFlight(url: string, token: string, payload: object) {
  const body = JSON.stringify(payload);
  const req = http.request(url, {
    method: 'POST',
    agent: false,
    headers: {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      authorization: `Bearer ${token}`,
      expect: '100-continue',
    },
  });
  const response = new Promise<{ status: number; body: any }>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    req.once('continue', resolve);
    req.once('error', reject);
    req.flushHeaders();
  });
  req.write(body.slice(0, 5));
  return {
    finish() {
      req.end(body.slice(5));
      return response;
    },
  };
}

/** Resolves with the error of a fresh connection to the server (a new socket: no pooled keep-alive one). */
function connectError(url: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get(new URL('/healthz', url), { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(undefined));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

test('SIGTERM: refuses new connections, finishes the request in flight, closes subscriptions with 1001, exits 0 within 10 s', async () => {
  const customer = await signUp(api.url);
  const live = connectLive(api.url, customer.token);
  await live.accepted;
  const sub = live.subscribe<Change>(STATUS_CHANGED);
  await untilSubscribed([sub], api.url, customer.token);

  const inFlight = await requestInFlight(api.url, customer.token, { query: 'query Me { me { id } }', operationName: 'Me' });

  api.kill('SIGTERM');
  await api.waitForLine(/"msg":"shutting down"/, 5_000);

  // No new connections, while the request in flight is still open.
  expect(await pollUntil(() => connectError(api.url), (e) => e === 'ECONNREFUSED', 'new connections to be refused', 3_000)).toBe('ECONNREFUSED');
  expect(await live.closed).toEqual({ code: 1001, reason: 'Going away' });

  const answered = await inFlight.finish();
  expect(answered).toEqual({ status: 200, body: { data: { me: { id: customer.id } } } });

  // Within 10 s by the process's own clock: past its shutdown limit it logs an error and exits 1, not 0.
  expect(await api.exited).toBe(0);
  expect(api.lines.some((l) => /"msg":"shut down cleanly"/.test(l))).toBe(true);
  expect(api.lines.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);
  await live.dispose();
});
