// The browser GraphQL IDE (GraphiQL on GET /graphql), in headless Chromium cut off from every other host: what an
// admin behind a firewall gets. Machine clients on the same URL see no difference.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { STATUS_CHANGED } from '../src/live/channel.js';
import { GraphiQLPage, launchChromium, offlineContext } from './support/browser.js';
import { pollUntil } from './support/poll.js';
import { inOneHour, startStack, type Session, type TestStack } from './support/stack.js';

let stack: TestStack;
let browser: Browser;
let alice: Session;
let admin: Session;

beforeAll(async () => {
  stack = await startStack({ prefix: 'ide' });
  // The stack's API server runs what `npm start` runs beside the GraphQL server: the status pipeline that hands
  // each change its effects (the live event among them), and the live channel that brings them to subscriptions.
  [browser, alice, admin] = await Promise.all([launchChromium(), stack.signUp(), stack.admin()]);
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('in a browser', () => {
  let context: BrowserContext;
  let blocked: string[];
  let page: Page;
  /** What the page reported that a user would not see: script errors, CSP violations. */
  const problems: string[] = [];
  /** The graphql-ws messages the page sent. */
  const sent: any[] = [];

  beforeAll(async () => {
    ({ context, blocked } = await offlineContext(browser));
    context.on('weberror', (err) => problems.push(`page error: ${err.error().message}`));
    context.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    page = await context.newPage();
    page.on('websocket', (ws) => ws.on('framesent', (frame) => sent.push(JSON.parse(String(frame.payload)))));
  });
  afterAll(() => context?.close());

  test('runs a query, a mutation with a token, and a subscription that shows a change as it happens', async () => {
    const ide = new GraphiQLPage(page);
    await ide.open(stack.url);
    expect(await page.title()).toBe('GraphQL IDE');

    // The headers editor is open, with the hint of where the token goes.
    expect(JSON.parse(await ide.text(ide.headersEditor))).toEqual({ Authorization: 'Bearer <token>' });

    // A query, with the hint left as it is: sent without a token, so anonymous rather than a 401.
    await ide.run('query Me { me { id } }');
    expect(await ide.result((r) => 'data' in r, 'the anonymous `me`')).toEqual({ data: { me: null } });

    await ide.type(ide.headersEditor, JSON.stringify({ Authorization: `Bearer ${alice.token}` }));
    await ide.run('query Me { me { id } }');
    await ide.result((r) => r.data?.me?.id === alice.id, "Alice's `me`");

    const startTime = inOneHour();
    await ide.run(`mutation Book {
      createReservation(input: { startTime: "${startTime}", partySize: 3 }) { id status partySize startTime }
    }`);
    const booked = await ide.result((r) => r.data?.createReservation || r.errors, 'the created reservation');
    expect(booked).toEqual({
      data: { createReservation: { id: expect.any(String), status: 'PENDING', partySize: 3, startTime } },
    });
    const reservationId: string = booked.data.createReservation.id;

    await ide.run(`subscription Watch {
      reservationStatusChanged(reservationId: "${reservationId}") { reservation { id status } event { from to actor } }
    }`);
    // Changes made before the server holds the subscription are not for it: wait until it does.
    await pollUntil(async () => stack.api.live.hub.subscriberCount(STATUS_CHANGED), (n) => n === 1, 'the subscription to start');
    // The token went as graphql-ws connection params, as the server expects.
    expect(sent[0]).toEqual({ type: 'connection_init', payload: { authorization: `Bearer ${alice.token}` } });

    const confirmed = await stack.gql(`mutation($id: ID!) { confirmReservation(id: $id) { status } }`, { id: reservationId }, admin.token);
    expect(confirmed.data).toEqual({ confirmReservation: { status: 'CONFIRMED' } });

    const event = await ide.result((r) => r.data?.reservationStatusChanged || r.errors, 'the live event');
    expect(event).toEqual({
      data: {
        reservationStatusChanged: {
          reservation: { id: reservationId, status: 'CONFIRMED' },
          event: { from: 'PENDING', to: 'CONFIRMED', actor: `admin:${admin.id}` },
        },
      },
    });

    // Everything came from this server, and the page's Content-Security-Policy let all of it run.
    expect(blocked).toEqual([]);
    expect(problems).toEqual([]);
  });

  test('the token is not kept in the browser, and a subscription without a valid one says why', async () => {
    const first = new GraphiQLPage(page);
    await first.open(stack.url);
    await first.type(first.headersEditor, JSON.stringify({ Authorization: `Bearer ${alice.token}` }));
    await first.run('query Me { me { id } }');
    await first.result((r) => r.data?.me?.id === alice.id, "Alice's `me`");

    // A new page of the same browser: GraphiQL restores its tabs from localStorage, but not the token.
    const ide = new GraphiQLPage(await context.newPage());
    await ide.open(stack.url);
    expect(JSON.parse(await ide.text(ide.headersEditor))).toEqual({ Authorization: 'Bearer <token>' });
    expect(JSON.stringify(await ide.page.evaluate('({ ...localStorage })'))).not.toContain(alice.token);

    const watch = 'subscription Watch { reservationStatusChanged { event { to } } }';
    await ide.run(watch);
    const withoutToken = await ide.result((r) => r.errors, 'the refusal without a token');
    expect(withoutToken.errors[0].message).toMatch(/^Subscriptions need a token: put it in the Headers tab/);

    await ide.type(ide.headersEditor, JSON.stringify({ Authorization: 'Bearer not-a-valid-token' }));
    await ide.run(watch);
    const refused = await ide.result((r) => r.errors?.[0]?.message.includes('4403'), 'the refusal of a bad token');
    expect(refused.errors[0].message).toBe(
      'The server refused the subscription connection (4403 Forbidden): the token is invalid or expired.',
    );
    await ide.page.close();
    expect(blocked).toEqual([]);
    expect(problems).toEqual([]);
  });
});

describe('over HTTP', () => {
  const get = (path: string, accept: string, headers: Record<string, string> = {}) =>
    fetch(new URL(path, stack.url), { headers: { accept, ...headers } });
  const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

  test('a browser gets the IDE page: no inline script, a strict Content-Security-Policy', async () => {
    const res = await get('/graphql', BROWSER_ACCEPT);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    const html = await res.text();
    const scripts = html.match(/<script[^>]*>/g)!;
    expect(scripts.length).toBeGreaterThan(0);
    for (const tag of scripts) expect(tag).toMatch(/^<script src="\/graphql\/ide\/[\w.-]+\.js">$/);
  });

  test('each file the page loads is served from this server', async () => {
    const html = await (await get('/graphql', BROWSER_ACCEPT)).text();
    const urls = [...html.matchAll(/(?:src|href)="(\/graphql\/ide\/[^"]+)"/g)].map((m) => m[1]!);
    expect(urls).toHaveLength(7);
    for (const url of urls) {
      const res = await get(url, '*/*');
      expect([url, res.status]).toEqual([url, 200]);
      expect(res.headers.get('content-type')).toMatch(url.endsWith('.css') ? /^text\/css/ : /javascript/);
    }
  });

  test('nothing else from node_modules is reachable', async () => {
    for (const path of ['/graphql/ide/package.json', '/graphql/ide/react.development.js', '/graphql/ide/..%2Fpackage.json']) {
      expect([path, (await get(path, '*/*')).status]).toEqual([path, 404]);
    }
  });

  test('a GET that prefers JSON is a GraphQL request, as before', async () => {
    const res = await get('/graphql?query=%7B__typename%7D', 'application/json', { 'apollo-require-preflight': 'true' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
  });

  test('a GET with any Accept (curl, fetch) is answered by the GraphQL server, not the page', async () => {
    const res = await get('/graphql', '*/*');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  });

  test('POST is a GraphQL request, as before', async () => {
    const r = await stack.gql('{ __typename }');
    expect(r).toMatchObject({ status: 200, data: { __typename: 'Query' } });
  });
});
