// Bounds on what one request may ask for. Each limit is shown on a server where only it is small: accepted at
// its bound, refused one past it with a code and a message naming it. The defaults are shown to leave the
// product's own operations and the IDE's introspection query well inside.
import { getIntrospectionQuery, Lexer, Source, TokenKind } from 'graphql';
import { parseConfig } from '../src/config.js';
import type { ApiServer } from '../src/app.js';
import {
  baseEnv,
  codeOf,
  gql,
  RESERVATION_FIELDS,
  startStack,
  type GqlResult,
  type Session,
  type TestStack,
  startInProcessApi,
} from './support/stack.js';

let stack: TestStack;
let alice: Session;
const servers: ApiServer[] = [];

beforeAll(async () => {
  stack = await startStack({ prefix: 'limits' });
  alice = await stack.signUp();
  await stack.createReservation(alice.token);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await stack.stop();
});

/** Another API server on the same database, with `env` on top of the test defaults. */
async function serverWith(env: Record<string, string>): Promise<string> {
  const server = await startInProcessApi(parseConfig(baseEnv(stack.mongoUri, env)), stack.db);
  servers.push(server);
  return server.url;
}

async function post(url: string, body: string): Promise<GqlResult & { text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  const json = res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : {};
  return { status: res.status, data: json.data, errors: json.errors, headers: res.headers, text };
}

function expectRefused(r: GqlResult, code: string, message: RegExp, status = 400) {
  expect(r.status).toBe(status);
  expect(r.errors).toHaveLength(1);
  expect(r.errors![0]!.extensions?.code).toBe(code);
  expect(r.errors![0]!.message).toMatch(message);
  expect(r.data).toBeUndefined();
}

function expectAccepted(r: GqlResult) {
  expect(r.errors).toBeUndefined();
  expect(r.status).toBe(200);
  expect(r.data).toBeDefined();
}

describe('the defaults', () => {
  test.each([
    ['graphql-js defaults', {}],
    [
      'every option on, as GraphiQL and code generators ask',
      {
        descriptions: true,
        specifiedByUrl: true,
        directiveIsRepeatable: true,
        schemaDescription: true,
        inputValueDeprecation: true,
        oneOf: true,
      },
    ],
  ])('let the standard introspection query through (%s)', async (_name, options) => {
    const r = await stack.gql(getIntrospectionQuery(options));
    expectAccepted(r);
    expect(r.data.__schema.types.map((t: { name: string }) => t.name)).toEqual(
      expect.arrayContaining(['Reservation', 'User']),
    );
  });

  test("let the product's richest operations through: a full page of 100 reservations, with customers and history", async () => {
    const r = await stack.gql(
      `query Page($first: Int) {
        me { id email username firstName lastName displayName role createdAt }
        reservations(first: $first) { nodes { ${RESERVATION_FIELDS} } pageInfo { hasNextPage endCursor } totalCount }
      }`,
      { first: 100 },
      alice.token,
    );
    expectAccepted(r);
    expect(r.data.reservations.nodes).toHaveLength(1);
  });

  test('a page holds at most 100 reservations: first 101 is BAD_USER_INPUT', async () => {
    const r = await stack.gql('{ reservations(first: 101) { totalCount } }', {}, alice.token);
    expect(codeOf(r)).toBe('BAD_USER_INPUT');
    expect(r.errors![0]!.message + JSON.stringify(r.errors![0]!.extensions)).toMatch(/first must be between 1 and 100/);
  });

  test('batching is off: a JSON array of operations is refused with 400', async () => {
    const r = await post(stack.url, JSON.stringify([{ query: '{ __typename }' }]));
    expectRefused(r, 'BAD_REQUEST', /batching disabled/i);
  });

  test('a body of 100 kB is accepted and one byte more is refused with 413', async () => {
    expectAccepted(await post(stack.url, bodyOfSize('{ me { id } }', 100 * 1024)));
    expectRefused(
      await post(stack.url, bodyOfSize('{ me { id } }', 100 * 1024 + 1)),
      'BAD_REQUEST',
      /larger than the limit of 102400 bytes \(REQUEST_BODY_LIMIT=100kb\)/,
      413,
    );
  });
});

describe('each limit, at its bound and one past it', () => {
  test('depth (QUERY_MAX_DEPTH=3)', async () => {
    const url = await serverWith({ QUERY_MAX_DEPTH: '3' });
    expectAccepted(await gql(url, '{ reservations { nodes { id } } }', {}, alice.token));
    // Fragments add no level: only fields do.
    expectAccepted(
      await gql(
        url,
        '{ ...R } fragment R on Query { reservations { nodes { ... on Reservation { id } } } }',
        {},
        alice.token,
      ),
    );
    expectRefused(
      await gql(url, '{ reservations { nodes { customer { id } } } }', {}, alice.token),
      'GRAPHQL_VALIDATION_FAILED',
      /depth limit of 3 exceeded, found 4/,
    );
  });

  test('depth counts introspection too, whose types nest without end', async () => {
    const url = await serverWith({ QUERY_MAX_DEPTH: '5' });
    expectAccepted(await gql(url, '{ __schema { types { fields { type { name } } } } }'));
    expectRefused(
      await gql(url, '{ __schema { types { fields { type { ofType { name } } } } } }'),
      'GRAPHQL_VALIDATION_FAILED',
      /depth limit of 5 exceeded, found 6/,
    );
  });

  test('aliases (QUERY_MAX_ALIASES=3)', async () => {
    const url = await serverWith({ QUERY_MAX_ALIASES: '3' });
    expectAccepted(await gql(url, '{ a: me { id } b: me { id } c: me { id } }', {}, alice.token));
    expectRefused(
      await gql(url, '{ a: me { id } b: me { id } c: me { id } d: me { id } }', {}, alice.token),
      'GRAPHQL_VALIDATION_FAILED',
      /Aliases limit of 3 exceeded, found 4/,
    );
  });

  test('complexity (QUERY_MAX_COMPLEXITY=9): one point per field', async () => {
    const url = await serverWith({ QUERY_MAX_COMPLEXITY: '9' });
    const nine = '{ me { id email username displayName role createdAt firstName lastName } }';
    expectAccepted(await gql(url, nine, {}, alice.token));
    expectRefused(
      await gql(url, nine.replace('lastName', 'lastName __typename'), {}, alice.token),
      'GRAPHQL_VALIDATION_FAILED',
      /complexity limit of 9 exceeded, found 10 \(QUERY_MAX_COMPLEXITY\)/,
    );
    // Fields left out by @skip cost nothing.
    expectAccepted(await gql(url, nine.replace('lastName', 'lastName __typename @skip(if: true)'), {}, alice.token));
  });

  test('complexity: a variable of the wrong type is still BAD_USER_INPUT, as without the limit', async () => {
    const url = await serverWith({ QUERY_MAX_COMPLEXITY: '9' });
    const r = await gql(
      url,
      'query($first: Int) { reservations(first: $first) { totalCount } }',
      { first: { $gt: 0 } },
      alice.token,
    );
    expectRefused(r, 'BAD_USER_INPUT', /\$first/);
  });

  test('complexity: fragments spread inside fragments, doubling at each step, are refused, not estimated forever', async () => {
    let fragments = 'fragment F0 on Query { me { id } }';
    for (let i = 1; i <= 16; i++) fragments += ` fragment F${i} on Query { ...F${i - 1} me { id } ...F${i - 1} }`;
    expectRefused(
      await gql(stack.url, `{ ...F16 } ${fragments}`),
      'GRAPHQL_VALIDATION_FAILED',
      /too large to estimate/,
    );
  });

  test('tokens (QUERY_MAX_TOKENS=100): the parser stops at the limit', async () => {
    const url = await serverWith({ QUERY_MAX_TOKENS: '100' });
    const withTokens = (n: number) => `{ me { id } ${'__typename '.repeat(n - 6)}}`;
    expect(tokenCount(withTokens(100))).toBe(100);
    expectAccepted(await gql(url, withTokens(100)));
    // graphql-js 16 words it "more that 100 tokens".
    expectRefused(await gql(url, withTokens(101)), 'GRAPHQL_PARSE_FAILED', /Document contains more tha[nt] 100 tokens/);
  });

  test('operations per batch (MAX_BATCH=3)', async () => {
    const url = await serverWith({ MAX_BATCH: '3' });
    const batch = (n: number) => JSON.stringify(Array.from({ length: n }, () => ({ query: '{ __typename }' })));
    const ok = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: batch(3) });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual(Array.from({ length: 3 }, () => ({ data: { __typename: 'Query' } })));
    expectRefused(await post(url, batch(4)), 'BAD_REQUEST', /at most 3 operations \(MAX_BATCH\); this one has 4/);
  });

  test('body size (REQUEST_BODY_LIMIT=2kb)', async () => {
    const url = await serverWith({ REQUEST_BODY_LIMIT: '2kb' });
    expectAccepted(await post(url, bodyOfSize('{ __typename }', 2048)));
    expectRefused(
      await post(url, bodyOfSize('{ __typename }', 2049)),
      'BAD_REQUEST',
      /limit of 2048 bytes \(REQUEST_BODY_LIMIT=2kb\)/,
      413,
    );
  });
});

describe('request bodies that are not GraphQL requests', () => {
  test.each([
    ['truncated JSON', '{"query": "{ me { id } }"'],
    ['a JSON string', '"{ me { id } }"'],
    ['a JSON number', '42'],
  ])('%s is answered 400 BAD_REQUEST as JSON, not an HTML error page', async (_name, body) => {
    const r = await post(stack.url, body);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expectRefused(r, 'BAD_REQUEST', /not valid JSON/);
    expect(r.text).not.toMatch(/at JSON\.parse|node_modules/);
  });
});

describe('configuration', () => {
  test.each([
    ['QUERY_MAX_DEPTH', '0'],
    ['QUERY_MAX_COMPLEXITY', 'lots'],
    ['QUERY_MAX_ALIASES', '-1'],
    ['QUERY_MAX_TOKENS', '10'],
    ['MAX_BATCH', '0'],
    ['REQUEST_BODY_LIMIT', 'huge'],
  ])('a bad %s stops start-up with one line naming it', (name, value) => {
    expect(() => parseConfig(baseEnv(stack.mongoUri, { [name]: value }))).toThrow(
      new RegExp(`^Invalid configuration: ${name} `),
    );
  });
});

/** A JSON request for `query` padded (with a GraphQL comment, which is no token) to exactly `bytes` bytes. */
function bodyOfSize(query: string, bytes: number): string {
  const bare = JSON.stringify({ query: `${query} #` });
  const body = JSON.stringify({ query: `${query} #${'x'.repeat(bytes - bare.length)}` });
  expect(Buffer.byteLength(body)).toBe(bytes);
  return body;
}

function tokenCount(query: string): number {
  const lexer = new Lexer(new Source(query));
  let n = 0;
  while (lexer.advance().kind !== TokenKind.EOF) n++;
  return n;
}
