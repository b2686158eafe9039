// The fuzz run's requests, and how they are sent and judged: generated malformed or hostile requests (broken JSON,
// huge strings, deep nesting, wrong types, query operators where strings belong, unknown fields, invalid ids,
// oversized bodies, odd content types and methods, forged or mangled Authorization headers, and a few requests that
// are not even HTTP). test/fuzz.test.ts runs them against a server in test mode, test/production.test.ts against one
// with NODE_ENV=production. The generator is seeded, so a failure names a request that can be replayed.
import http from 'node:http';
import net from 'node:net';
import { SignJWT, UnsecuredJWT } from 'jose';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../../src/schema/auth.js';
import { TEST_JWT_SECRET } from './stack.js';

/** REQUEST_BODY_LIMIT's default, which the server runs with. */
const BODY_LIMIT = 100 * 1024;

/** The server the requests go to, and the credentials they use, promote or forge. */
export interface FuzzTarget {
  origin: string;
  customerToken: string;
  adminToken: string;
  customerId: string;
}

let origin: string;
let customerToken: string;
let adminToken: string;
let customerId: string;

/** Points the generator and the senders at `target`. */
export function aimFuzzAt(target: FuzzTarget): void {
  ({ origin, customerToken, adminToken, customerId } = target);
}

/** Generates `count` requests from `seed` and sends them, `concurrency` at a time; one outcome per request. */
export async function runFuzz(seed: number, count: number, concurrency: number): Promise<Outcome[]> {
  const r = prng(seed);
  const requests: (FuzzRequest | RawRequest)[] = [];
  for (let i = 0; i < count; i++) requests.push(await generate(r));

  const outcomes: Outcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests.length) {
        const req = requests[next++]!;
        outcomes.push(await ('raw' in req ? sendRaw(req) : send(req)));
      }
    }),
  );
  return outcomes;
}

// ---------------------------------------------------------------------------------------------------------------
// Randomness: mulberry32, small and seedable.

function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!;
  const chance = (p: number) => next() < p;
  return { next, int, pick, chance };
}
type Rng = ReturnType<typeof prng>;

// ---------------------------------------------------------------------------------------------------------------
// What goes on the wire.

interface FuzzRequest {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

interface RawRequest {
  kind: string;
  raw: string;
}

const OPERATIONS = {
  logIn: 'mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }',
  signUp: 'mutation($i: SignUpInput!) { signUp(input: $i) { token user { id } } }',
  create: 'mutation($i: CreateReservationInput!) { createReservation(input: $i) { id status } }',
  confirm: 'mutation($id: ID!) { confirmReservation(id: $id) { id status } }',
  cancel: 'mutation($id: ID!, $r: String) { cancelReservation(id: $id, reason: $r) { id status } }',
  reservation: 'query($id: ID!) { reservation(id: $id) { id status customer { id } history { id } } }',
  reservations:
    'query($f: Int, $a: String, $s: ReservationStatus, $from: DateTimeISO, $to: DateTimeISO) { reservations(first: $f, after: $a, status: $s, startFrom: $from, startTo: $to) { totalCount pageInfo { endCursor } nodes { id } } }',
  me: '{ me { id email role } }',
} as const;

const OPERATORS = [
  { $gt: '' },
  { $ne: null },
  { $where: 'sleep(1000) || true' },
  { $regex: '.*' },
  { $in: [] },
  { $exists: true },
  { $expr: { $eq: [1, 1] } },
];

function hostile(r: Rng): unknown {
  switch (r.int(0, 7)) {
    case 0:
      return r.pick(OPERATORS);
    case 1:
      return r.pick([42, -1, 0, 1e308, -1e308, 3.14, true, false, null, [], ['a', 'b'], {}, 2 ** 53 + 1]);
    case 2:
      return 'x'.repeat(r.int(1_000, 90_000));
    case 3:
      return r.pick([
        '',
        ' ',
        '\u0000',
        '\ud800',
        '\u202egnp.exe',
        '<script>alert(1)</script>',
        "' OR '1'='1' --",
        '"; db.dropDatabase(); "',
        '../../../../etc/passwd',
        '${jndi:ldap://example.invalid/a}',
        '%00%0d%0aSet-Cookie: a=b',
        '🦄'.repeat(500),
        'constructor',
        '__proto__',
      ]);
    case 4:
      return JSON.parse('{"__proto__": {"role": "ADMIN", "isAdmin": true}}');
    case 5:
      return { constructor: { prototype: { role: 'ADMIN' } } };
    case 6:
      return badId(r);
    default:
      return Array.from({ length: r.int(1, 50) }, () => r.pick(OPERATORS));
  }
}

/** Ids that are not a reservation of this database, shaped and misshapen. */
function badId(r: Rng): unknown {
  return r.pick([
    randomHex(r, 24),
    randomHex(r, 24).toUpperCase(),
    '000000000000000000000000',
    'zzzzzzzzzzzzzzzzzzzzzzzz',
    'abcdefghijkl',
    randomHex(r, 23),
    randomHex(r, 25),
    '',
    '1',
    '-1',
    'null',
    'undefined',
    `ObjectId("${randomHex(r, 24)}")`,
    { $oid: randomHex(r, 24) },
    { $gt: '' },
    Number.MAX_SAFE_INTEGER,
    randomHex(r, 24).repeat(500),
  ]);
}

const randomHex = (r: Rng, n: number) => Array.from({ length: n }, () => '0123456789abcdef'[r.int(0, 15)]).join('');

/** A value of the right type or a wrong one; `broken` forces the wrong one. */
function field<T>(r: Rng, good: () => T, bad: () => unknown, broken: boolean): unknown {
  return broken || r.chance(0.5) ? bad() : good();
}

/** Variables for one of OPERATIONS; every mutation gets at least one invalid input, so none may succeed. */
function variablesFor(r: Rng, op: keyof typeof OPERATIONS): Record<string, unknown> | undefined {
  const futureIso = () => new Date(Date.now() + r.int(1, 1000) * 3_600_000).toISOString();
  const pastIso = () => new Date(Date.now() - r.int(1, 100_000) * 60_000).toISOString();
  switch (op) {
    case 'logIn':
      return {
        e: field(
          r,
          () => `u${r.int(0, 99)}@example.com`,
          () => hostile(r),
          false,
        ),
        p: field(
          r,
          () => 'password1',
          () => hostile(r),
          false,
        ),
      };
    case 'signUp': {
      const broken = r.int(0, 2);
      const input: Record<string, unknown> = {
        email: field(
          r,
          () => `new${randomHex(r, 8)}@example.com`,
          () => r.pick([hostile(r), 'not-an-email', 'a@', '@b.c', `${'a'.repeat(300)}@example.com`]),
          broken === 0,
        ),
        username: field(
          r,
          () => `new${randomHex(r, 8)}`,
          () => r.pick([hostile(r), 'ab', 'two words', 'x'.repeat(500), 'admin\u0000']),
          broken === 1,
        ),
        password: field(
          r,
          () => 'long enough password',
          () => r.pick([hostile(r), 'short', '1234567']),
          broken === 2,
        ),
      };
      if (r.chance(0.3))
        input[r.pick(['role', 'isAdmin', 'passwordHash', '_id', '$where'])] = r.pick(['ADMIN', true, { $gt: '' }]);
      return { i: r.chance(0.1) ? hostile(r) : input };
    }
    case 'create': {
      const broken = r.int(0, 2);
      const input: Record<string, unknown> = {
        startTime: field(
          r,
          futureIso,
          () =>
            r.pick([
              hostile(r),
              pastIso(),
              'tomorrow',
              '2030-13-45T99:99:99Z',
              '0',
              1e15,
              '+275760-09-13T00:00:00.001Z',
            ]),
          broken === 0,
        ),
        partySize: field(
          r,
          () => r.int(1, 50),
          () => r.pick([hostile(r), 0, 51, -5, 2.5, '2', 2 ** 31]),
          broken === 1,
        ),
        notes: field(
          r,
          () => 'window seat',
          () => r.pick([hostile(r), 'n'.repeat(r.int(1001, 5000))]),
          broken === 2,
        ),
      };
      if (r.chance(0.3))
        input[r.pick(['status', 'customer', 'reference', '_id', 'history'])] = r.pick([
          'CONFIRMED',
          customerId,
          { $set: { status: 'CONFIRMED' } },
        ]);
      return { i: r.chance(0.1) ? hostile(r) : input };
    }
    case 'confirm':
      return { id: badId(r) };
    case 'cancel':
      return {
        id: badId(r),
        r: field(
          r,
          () => 'changed plans',
          () => hostile(r),
          false,
        ),
      };
    case 'reservation':
      return { id: r.chance(0.8) ? badId(r) : hostile(r) };
    case 'reservations':
      return {
        f: field(
          r,
          () => r.int(1, 100),
          () => r.pick([hostile(r), 0, 101, -1, 1e9]),
          false,
        ),
        a: field(
          r,
          () => undefined,
          () =>
            r.pick([
              hostile(r),
              Buffer.from(`${r.int(0, 1e12)}:${randomHex(r, 24)}`).toString('base64url'),
              Buffer.from('{"$gt": ""}').toString('base64url'),
              'not a cursor',
              Buffer.from('1:'.repeat(5000)).toString('base64url'),
            ]),
          false,
        ),
        s: field(
          r,
          () => 'PENDING',
          () => r.pick([hostile(r), 'DELETED', 'pending', 0]),
          false,
        ),
        from: field(
          r,
          () => undefined,
          () => r.pick([hostile(r), 'yesterday', '2020-02-30T00:00:00Z']),
          false,
        ),
        to: field(
          r,
          () => undefined,
          () => r.pick([hostile(r), pastIso()]),
          false,
        ),
      };
    default:
      return undefined;
  }
}

/** GraphQL documents that are hostile in themselves. */
function hostileDocument(r: Rng): string {
  const n = r.int(2, 60);
  return r.pick([
    () => `mutation { logIn(email: {gt: ""}, password: "x") { token } }`,
    () => `mutation { logIn(email: ${JSON.stringify(hostileString(r))}, password: ["a"]) { token } }`,
    () => `{ reservation(id: ["${randomHex(r, 24)}"]) { id } }`,
    () =>
      `mutation { createReservation(input: { startTime: "2000-01-01T00:00:00Z", partySize: "2", customer: "${customerId}" }) { id } }`,
    () =>
      `mutation { createReservation(input: { startTime: "${new Date(Date.now() - 60_000).toISOString()}", partySize: 2 }) { id } }`,
    () => `{ me { id password passwordHash } }`,
    () => `{ users { id email } }`,
    () => `{ me(where: { role: ADMIN }) { id } }`,
    () => `{ me @foo { id } }`,
    () => `{ me @include(if: true) @include(if: false) { id } }`,
    () => `fragment A on Query { ...B } fragment B on Query { ...A } { ...A }`,
    () => `{ ${Array.from({ length: n }, (_, i) => `a${i}: me { id }`).join(' ')} }`,
    () => `{ __schema { types { ${'fields { type { ofType { '.repeat(n)}name${' } } }'.repeat(n)} } } }`,
    () => `{ ${'me { '.repeat(n)}id${' }'.repeat(n)} }`,
    () => `{ reservations(first: ${'['.repeat(n * 50)}1${']'.repeat(n * 50)}) { totalCount } }`,
    () => `{ ${'__typename '.repeat(n * 100)}}`,
    () => `{ ${'x'.repeat(n * 1000)} }`,
    () => `query(${Array.from({ length: n }, (_, i) => `$v${i}: String`).join(', ')}) { me { id } }`,
    () => `{ me { id }`,
    () => `query {`,
    () => `subscription { reservationStatusChanged { event { id } } }`,
    () =>
      `mutation { confirmReservation(id: "${randomHex(r, 24)}") { id } confirmReservation2: confirmReservation(id: "${randomHex(r, 24)}") { id } }`,
    () => randomText(r, r.int(1, 500)),
    () => `"""${'x'.repeat(r.int(1, 50_000))}`,
    () => `{ me { ... on Reservation { id } } }`,
    () => `query Q { me { id } } query Q { me { email } }`,
    () => `query A { me { id } } query B { me { email } }`,
  ])();
}

const hostileString = (r: Rng) => {
  const v = hostile(r);
  return typeof v === 'string' ? v : JSON.stringify(v);
};

function randomText(r: Rng, length: number): string {
  return Array.from({ length }, () => String.fromCharCode(r.int(0, 1) ? r.int(0x20, 0x7e) : r.int(0, 0xffff))).join('');
}

function json(body: unknown, extraHeaders: Record<string, string> = {}): Pick<FuzzRequest, 'headers' | 'body'> {
  return { headers: { 'content-type': 'application/json', ...extraHeaders }, body: JSON.stringify(body) };
}

async function forgedToken(r: Rng): Promise<string> {
  const secret = new TextEncoder().encode(r.pick([TEST_JWT_SECRET, 'another-secret-0123456789abcdef']));
  const claims = { role: 'ADMIN' };
  const good = (jwt: SignJWT) =>
    jwt.setSubject(customerId).setIssuer(TOKEN_ISSUER).setAudience(TOKEN_AUDIENCE).setIssuedAt();
  switch (r.int(0, 6)) {
    case 0: // expired
      return good(new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }))
        .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
        .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    case 1: // alg: none
      return new UnsecuredJWT(claims)
        .setSubject(customerId)
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setExpirationTime('1h')
        .encode();
    case 2: {
      // the customer's own token, promoted in the payload
      const [h, , s] = customerToken.split('.');
      const payload = Buffer.from(
        JSON.stringify({ sub: customerId, role: 'ADMIN', iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, exp: 4e9 }),
      ).toString('base64url');
      return `${h}.${payload}.${s}`;
    }
    case 3: // another algorithm, another secret, another issuer
      return good(new SignJWT(claims).setProtectedHeader({ alg: r.pick(['HS384', 'HS512', 'HS256']) }))
        .setIssuer(r.pick([TOKEN_ISSUER, 'evil']))
        .setExpirationTime('1h')
        .sign(secret);
    case 4: // a real token with its signature cut, or flipped
      return r.chance(0.5)
        ? customerToken.slice(0, customerToken.lastIndexOf('.') + 1)
        : customerToken.slice(0, -2) + (customerToken.endsWith('A') ? 'BB' : 'AA');
    case 5:
      return `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(hostile(r))).toString('base64url')}.x`;
    default:
      return randomText(r, r.int(1, 300)).replace(/[^\x20-\x7e]/g, '');
  }
}

async function badAuthorization(r: Rng): Promise<string> {
  return r.pick([
    async () => `Bearer ${await forgedToken(r)}`,
    async () => `bearer ${await forgedToken(r)}`,
    async () => 'Bearer',
    async () => 'Bearer ',
    async () => `Bearer ${customerToken} ${customerToken}`,
    async () => `Bearer ${customerToken}, Bearer ${adminToken}`.replace(adminToken, await forgedToken(r)),
    async () => `Basic ${Buffer.from('admin:admin').toString('base64')}`,
    async () => `Token ${customerToken}`,
    async () => `Bearer ${'A'.repeat(r.int(1_000, 12_000))}`,
    async () => `Bearer \u00e9\u00ff${customerToken}`,
    async () => customerToken,
  ])();
}

/** A request that must change nothing: a valid-looking mutation with a forged credential. */
async function forgedWrite(r: Rng): Promise<FuzzRequest> {
  const [query, variables] = r.pick([
    [OPERATIONS.create, { i: { startTime: new Date(Date.now() + 86_400_000).toISOString(), partySize: 2 } }],
    [OPERATIONS.confirm, { id: randomHex(r, 24) }],
    [OPERATIONS.cancel, { id: randomHex(r, 24), r: 'forged' }],
  ] as const);
  return {
    kind: 'forged authorization',
    method: 'POST',
    path: '/graphql',
    ...json({ query, variables }, { authorization: await badAuthorization(r) }),
  };
}

async function generate(r: Rng): Promise<FuzzRequest | RawRequest> {
  const token = () => r.pick([undefined, customerToken, adminToken]);
  const auth = (): Record<string, string> => {
    const t = token();
    return t ? { authorization: `Bearer ${t}` } : {};
  };
  const op = () => r.pick(Object.keys(OPERATIONS) as (keyof typeof OPERATIONS)[]);
  const post = (kind: string, body: Pick<FuzzRequest, 'headers' | 'body'>): FuzzRequest => ({
    kind,
    method: 'POST',
    path: '/graphql',
    ...body,
  });

  switch (r.int(0, 13)) {
    case 0: {
      const valid = JSON.stringify({ query: OPERATIONS[op()], variables: variablesFor(r, op()) });
      const body = r.pick([
        () => valid.slice(0, r.int(0, valid.length - 1)),
        () => valid.replace(/"/g, "'"),
        () => valid.replace(/}$/, ',}'),
        () => `${valid}${valid}`,
        () => `{"query": "{ me { id } }", "query": ${JSON.stringify(hostileString(r))}}`,
        () => '{"query": "{ me { id } }", "variables": {"a": NaN, "b": Infinity, "c": undefined}}',
        () => '\ufeff{"query": "{ me { id } }"}',
        () => '{"query": "\\ud800\\udc00\\ud800"}',
        () => randomText(r, r.int(0, 2000)),
        () => '',
        () => 'null',
        () => '[]',
        () => '[[[]]]',
        () => 'true',
        () => '{"query": null}',
        () => '{"query": {"$gt": ""}}',
        () => '{"query": "{ me { id } }", "variables": "not an object"}',
        () => '{"query": "{ me { id } }", "variables": [1, 2, 3]}',
        () => '{"query": "{ me { id } }", "operationName": {"$ne": null}}',
        () => '{"query": "{ me { id } }", "extensions": "x"}',
        () => '{"query": "{ me { id } }", "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "00"}}}',
        () => '{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "' + randomHex(r, 64) + '"}}}',
      ])();
      return post('malformed JSON', { headers: { 'content-type': 'application/json', ...auth() }, body });
    }
    case 1:
    case 2:
    case 3: {
      const name = op();
      return post(
        `hostile variables (${name})`,
        json({ query: OPERATIONS[name], variables: variablesFor(r, name) }, auth()),
      );
    }
    case 4:
    case 5:
      return post(
        'hostile document',
        json(
          {
            query: hostileDocument(r),
            variables: r.chance(0.2) ? hostile(r) : undefined,
            operationName: r.chance(0.1) ? hostileString(r) : undefined,
          },
          auth(),
        ),
      );
    case 6: {
      // deep nesting in the JSON itself
      const depth = r.int(100, 49_000);
      const open = r.pick(['[', '{"a":']);
      const close = open === '[' ? ']' : '}';
      const deep = `${open.repeat(depth)}1${close.repeat(depth)}`;
      const body = r.pick([
        () => `{"query": ${JSON.stringify(OPERATIONS.create)}, "variables": {"i": ${deep}}}`,
        () => `{"query": ${JSON.stringify(OPERATIONS.logIn)}, "variables": {"e": ${deep}, "p": "x"}}`,
        () => `{"query": "{ me { id } }", "extensions": ${deep}}`,
        () => deep,
      ])();
      return post('deep JSON', { headers: { 'content-type': 'application/json', ...auth() }, body });
    }
    case 7: {
      // oversized: past the body limit, sometimes by far
      const size = r.pick([BODY_LIMIT + 1, r.int(BODY_LIMIT + 100, 400_000), 2_000_000]);
      const body = JSON.stringify({ query: '{ me { id } }', variables: { pad: 'x'.repeat(size) } });
      return post('oversized body', { headers: { 'content-type': 'application/json', ...auth() }, body });
    }
    case 8: {
      const query = OPERATIONS[op()];
      const [type, body] = r.pick([
        ['text/plain', JSON.stringify({ query })],
        ['text/plain;charset=utf-8', JSON.stringify({ query })],
        ['application/x-www-form-urlencoded', `query=${encodeURIComponent(query)}`],
        [
          'multipart/form-data; boundary=zz',
          `--zz\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query })}\r\n--zz--`,
        ],
        ['application/graphql', query],
        ['application/json; charset=utf-16', JSON.stringify({ query })],
        ['application/json; charset=latin1', JSON.stringify({ query })],
        ['application/json; charset=bogus', JSON.stringify({ query })],
        ['application/xml', `<query>${query}</query>`],
        ['', JSON.stringify({ query })],
        ['application/json, text/html', JSON.stringify({ query })],
        ['application/json; boundary=' + 'x'.repeat(5000), JSON.stringify({ query })],
        ['*/*', JSON.stringify({ query })],
        ['application/graphql-response+json', JSON.stringify({ query })],
      ] as const);
      const headers: Record<string, string> = { ...auth() };
      if (type) headers['content-type'] = type;
      if (r.chance(0.2))
        headers['content-encoding'] = r.pick(['gzip', 'deflate', 'br', 'identity', 'bogus', 'gzip, gzip']);
      return { kind: `content type ${type || '(none)'}`, method: 'POST', path: '/graphql', headers, body };
    }
    case 9:
      return forgedWrite(r);
    case 10:
      return post(
        'bad authorization',
        json(
          { query: OPERATIONS[op()], variables: variablesFor(r, op()) },
          { authorization: await badAuthorization(r) },
        ),
      );
    case 11: {
      const method = r.pick(['GET', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'POST']);
      const path = r.pick([
        `/graphql?query=${encodeURIComponent(OPERATIONS[op()])}`,
        `/graphql?query=${encodeURIComponent(OPERATIONS.create)}&variables=${encodeURIComponent(JSON.stringify(variablesFor(r, 'create')))}`,
        // Cut anywhere, so sometimes inside a %XX escape.
        `/graphql?query=${encodeURIComponent(hostileDocument(r).replace(/[\ud800-\udfff]/g, '\ufffd')).slice(0, 4000)}`,
        '/graphql?variables=%7Bnot-json',
        '/graphql?extensions=%7B%22persistedQuery%22%3A1%7D',
        '/graphql?query[$gt]=',
        '/graphql?query=%7Bme%7Bid%7D%7D&query=%7Bme%7Bemail%7D%7D',
        '/graphql/',
        '/GRAPHQL',
        '/graphql/ide/../../package.json',
        '/graphql/ide/%2e%2e%2f%2e%2e%2fpackage.json',
        '/graphql/ide/..%5c..%5cpackage.json',
        '/graphql/ide/graphiql.min.js%00.html',
        '/graphql%00',
        '/admin/jobs',
        '/admin/jobs/api',
        '/healthz?x=' + 'y'.repeat(5000),
        '/readyz',
        '/',
        '/%',
        '/.env',
        '/../../etc/passwd',
      ]);
      const headers: Record<string, string> = { ...auth() };
      if (r.chance(0.5)) headers['apollo-require-preflight'] = 'true';
      if (r.chance(0.3))
        headers.accept = r.pick([
          'text/html',
          '*/*',
          'application/json',
          'text/html;q=0.1, application/json;q=0.9',
          'x/y, ,;;',
        ]);
      if (method !== 'GET' && method !== 'HEAD' && r.chance(0.5)) {
        headers['content-type'] = 'application/json';
        return { kind: `method ${method}`, method, path, headers, body: JSON.stringify({ query: OPERATIONS[op()] }) };
      }
      return { kind: `method ${method}`, method, path, headers };
    }
    case 12: {
      const n = r.pick([0, 1, 2, r.int(3, 200)]);
      const body = JSON.stringify(
        Array.from({ length: n }, () =>
          r.chance(0.8) ? { query: OPERATIONS[op()], variables: variablesFor(r, op()) } : hostile(r),
        ),
      );
      return post('batch', { headers: { 'content-type': 'application/json', ...auth() }, body });
    }
    default:
      return {
        kind: 'not quite HTTP',
        raw: r.pick([
          'GET /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
          'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"query": "{ me',
          'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n0\r\n\r\n',
          'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
          'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
          'GET /graphql HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n',
          `GET /graphql HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`,
          'GET /graphql HTTP/9.9\r\n\r\n',
          'HELLO\r\n\r\n',
          '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
          'GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: bad\r\n\r\n',
          `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${'9'.repeat(30)}\r\n\r\n{}`,
        ]),
      };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Sending and judging.

export interface Outcome {
  request: string;
  status: number | 'closed';
  problem?: string;
  /** What came back: the response body, or for a raw request everything the server wrote. */
  body: string;
}

function send(req: FuzzRequest): Promise<Outcome> {
  const label = `${req.kind}: ${req.method} ${req.path.slice(0, 120)} ${JSON.stringify(req.headers).slice(0, 300)} ${String(req.body ?? '').slice(0, 200)}`;
  return new Promise((resolve) => {
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    const out = http.request(
      `${origin}${req.path}`,
      // A connection per request: the server closes a connection after some refusals, and a pooled one reused
      // just then would fail on the client's side with nothing wrong on the server's.
      {
        method: req.method,
        agent: false,
        headers: { ...req.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) =>
          resolve({
            request: label,
            status: res.statusCode!,
            problem: mayBeCutOff(req) ? undefined : `response cut off: ${err.message}`,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ request: label, status: res.statusCode!, problem: judge(res, body), body });
        });
      },
    );
    out.on('error', (err: NodeJS.ErrnoException) =>
      resolve({
        request: label,
        status: 'closed',
        problem:
          ['ECONNRESET', 'EPIPE'].includes(err.code ?? '') && mayBeCutOff(req)
            ? undefined
            : `client error ${err.code ?? err.message}`,
        body: '',
      }),
    );
    out.end(body);
  });
}

/**
 * Whether the server may refuse `req` and close the connection while the client is still sending it (an
 * oversized body, headers past Node's limit), in which case the client sees a reset rather than the answer.
 */
function mayBeCutOff(req: FuzzRequest): boolean {
  const headerBytes = Object.entries(req.headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
  return Buffer.byteLength(req.body ?? '') > BODY_LIMIT || headerBytes > http.maxHeaderSize;
}

function judge(res: http.IncomingMessage, text: string): string | undefined {
  if (res.statusCode! >= 500) return `HTTP ${res.statusCode}: ${text.slice(0, 300)}`;
  if (!res.headers['content-type']?.startsWith('application/json') || !text) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `a JSON content type with a body that is not JSON: ${text.slice(0, 300)}`;
  }
  const errors = (Array.isArray(body) ? body : [body]).flatMap(
    (b: { errors?: { extensions?: { code?: string } }[] }) => b?.errors ?? [],
  );
  const internal = errors.find((e) => !e.extensions?.code || e.extensions.code === 'INTERNAL_SERVER_ERROR');
  return internal ? `an internal error: ${JSON.stringify(internal).slice(0, 500)}` : undefined;
}

function sendRaw(req: RawRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(Number(new URL(origin).port), '127.0.0.1');
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('error', () => {});
    socket.setTimeout(5000, () => socket.destroy());
    socket.on('close', () => {
      const status = /^HTTP\/1\.\d (\d{3})/.exec(text)?.[1];
      resolve({
        request: `${req.kind}: ${JSON.stringify(req.raw.slice(0, 160))}`,
        status: status ? Number(status) : 'closed',
        problem: status && Number(status) >= 500 ? `HTTP ${status}: ${text.slice(0, 300)}` : undefined,
        body: text,
      });
    });
    socket.end(req.raw, 'latin1');
  });
}
