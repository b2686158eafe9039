// What a browser may do with the API from another site: nothing by simple request (CSRF prevention), read
// responses only from the origins in CORS_ORIGINS, and every response carries the headers that stop sniffing,
// framing and referrer leaks.
import { parseConfig } from '../src/config.js';
import type { ApiServer } from '../src/app.js';
import { baseEnv, startStack, type TestStack, startInProcessApi } from './support/stack.js';

const APP = 'https://app.example.com';
const OTHER = 'https://evil.example.net';

let stack: TestStack;
let withCors: ApiServer;

beforeAll(async () => {
  stack = await startStack({ prefix: 'browser' });
  withCors = await startInProcessApi(
    parseConfig(baseEnv(stack.mongoUri, { CORS_ORIGINS: `${APP}, https://admin.example.com` })),
    stack.db,
  );
});
afterAll(async () => {
  await withCors.stop();
  await stack.stop();
});

const QUERY = '{ __typename }';
const encoded = `?query=${encodeURIComponent(QUERY)}`;

interface SimpleRequest {
  method: string;
  path?: string;
  type?: string;
  body?: string;
}

describe('CSRF prevention: requests a page on another site could send without a preflight are refused', () => {
  test.each<[string, SimpleRequest]>([
    ['a GET with no preflight header', { method: 'GET', path: encoded }],
    ['a POST as text/plain', { method: 'POST', type: 'text/plain', body: JSON.stringify({ query: QUERY }) }],
    [
      'a POST as a form',
      { method: 'POST', type: 'application/x-www-form-urlencoded', body: `query=${encodeURIComponent(QUERY)}` },
    ],
    [
      'a POST as multipart',
      {
        method: 'POST',
        type: 'multipart/form-data; boundary=x',
        body: `--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n${QUERY}\r\n--x--`,
      },
    ],
  ])('%s: 400, and nothing runs', async (_name, req) => {
    const res = await fetch(stack.url + (req.path ?? ''), {
      method: req.method,
      headers: req.type ? { 'content-type': req.type } : {},
      body: req.body,
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { data?: unknown; errors: { message: string; extensions: { code: string } }[] };
    expect(body.data).toBeUndefined();
    expect(body.errors[0]!.message).toMatch(/Cross-Site Request Forgery/);
    expect(body.errors[0]!.extensions.code).toBe('BAD_REQUEST');
  });

  test('the same operations run when a browser would have had to ask first (JSON, or a preflight header)', async () => {
    const post = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: QUERY }),
    });
    expect(await post.json()).toEqual({ data: { __typename: 'Query' } });
    const get = await fetch(stack.url + encoded, { headers: { 'apollo-require-preflight': 'true' } });
    expect(await get.json()).toEqual({ data: { __typename: 'Query' } });
  });

  test('a GET never runs a mutation, preflight header or not', async () => {
    const mutation = encodeURIComponent('mutation { logIn(email: "a@example.com", password: "whatever1") { token } }');
    const res = await fetch(`${stack.url}?query=${mutation}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(res.status).toBe(405);
  });
});

describe('CORS', () => {
  const preflight = (url: string, origin: string) =>
    fetch(url, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
  const crossOriginPost = (url: string, origin: string) =>
    fetch(url, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json' },
      body: JSON.stringify({ query: QUERY }),
    });

  test('an origin in CORS_ORIGINS passes the preflight and may read the response', async () => {
    const pre = await preflight(withCors.url, APP);
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(APP);
    expect(pre.headers.get('access-control-allow-methods')).toMatch(/POST/);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/authorization/i);
    expect(pre.headers.get('access-control-allow-credentials')).toBeNull();

    const res = await crossOriginPost(withCors.url, APP);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('vary')).toMatch(/Origin/i);
  });

  test('an origin not listed gets no CORS headers, so its browser neither sends the request nor shows the response', async () => {
    const pre = await preflight(withCors.url, OTHER);
    // Without Access-Control-Allow-Origin the preflight fails, whatever else it lists.
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const res = await crossOriginPost(withCors.url, OTHER);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('without CORS_ORIGINS no origin is allowed cross-origin', async () => {
    for (const origin of [APP, OTHER]) {
      expect((await preflight(stack.url, origin)).headers.get('access-control-allow-origin')).toBeNull();
      expect((await crossOriginPost(stack.url, origin)).headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  test.each(['app.example.com', 'https://app.example.com/', 'https://app.example.com/path', '*'])(
    'CORS_ORIGINS=%s is refused at start-up: it takes exact origins',
    (value) => {
      expect(() => parseConfig(baseEnv(stack.mongoUri, { CORS_ORIGINS: value }))).toThrow(
        /^Invalid configuration: CORS_ORIGINS /,
      );
    },
  );
});

describe('security headers', () => {
  const base = () => stack.url.replace(/\/graphql$/, '');

  test.each([
    [
      'a GraphQL response',
      () =>
        fetch(stack.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: QUERY }),
        }),
    ],
    [
      'a refused GraphQL request',
      () => fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }),
    ],
    ['the health check', () => fetch(`${base()}/healthz`)],
    ['a page that does not exist', () => fetch(`${base()}/nowhere`)],
    ['the GraphQL IDE page', () => fetch(stack.url, { headers: { accept: 'text/html' } })],
  ])('on %s: no sniffing, no framing by other sites, no referrer, no X-Powered-By', async (_name, request) => {
    const res = await request();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  test.each([
    ['a query', { query: QUERY }],
    ['an operation refused by validation', { query: '{ nope }' }],
  ])('%s over HTTP is answered with Cache-Control: no-store (every answer depends on who asks)', async (_name, body) => {
    const res = await fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  test("the IDE page keeps its own Content-Security-Policy (set by src/ide/), which the headers above don't replace", async () => {
    const res = await fetch(stack.url, { headers: { accept: 'text/html' } });
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toMatch(
      /default-src 'none'.*script-src 'self'.*frame-ancestors 'none'/,
    );
  });
});

describe('client addresses behind proxies (TRUST_PROXY)', () => {
  test.each([
    ['true', true],
    ['2', 2],
    ['loopback, 10.0.0.0/8', ['loopback', '10.0.0.0/8']],
    ['', false],
  ])('TRUST_PROXY=%s is read as %p', (value, expected) => {
    expect(parseConfig(baseEnv(stack.mongoUri, { TRUST_PROXY: value })).TRUST_PROXY).toEqual(expected);
  });

  test.each(['yes', '10.0.0.0/8/8', 'proxy.example.com'])('TRUST_PROXY=%s is refused at start-up', (value) => {
    expect(() => parseConfig(baseEnv(stack.mongoUri, { TRUST_PROXY: value }))).toThrow(
      /^Invalid configuration: TRUST_PROXY /,
    );
  });
});
