// Bearer tokens: only HS256 tokens this API signed, for its audience, unexpired and untouched, get anyone in,
// over HTTP and over WebSocket alike.
import { SignJWT, UnsecuredJWT, decodeJwt } from 'jose';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../src/schema/auth.js';
import { connectLive, type LiveConnection } from './support/live.js';
import { startStack, TEST_JWT_SECRET, type Session, type TestStack } from './support/stack.js';

let stack: TestStack;
let alice: Session;
const connections: LiveConnection[] = [];

beforeAll(async () => {
  stack = await startStack({ prefix: 'tokens' });
  alice = await stack.signUp();
});
afterEach(async () => {
  await Promise.all(connections.splice(0).map((c) => c.dispose()));
});
afterAll(() => stack.stop());

const ME = '{ me { id } }';
const key = (secret: string) => new TextEncoder().encode(secret);
const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s;

/** A token like the API's own for Alice, with `change` applied before signing. */
function token(change: (jwt: SignJWT) => SignJWT = (jwt) => jwt, opts: { alg?: string; secret?: string } = {}) {
  const jwt = new SignJWT({ role: 'CUSTOMER' })
    .setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(alice.id)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(inSeconds(600));
  return change(jwt).sign(key(opts.secret ?? TEST_JWT_SECRET));
}

/** The API's own token for Alice with its payload edited (made an admin), signature left as it was. */
function tampered(): string {
  const [header, payload, signature] = alice.token.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8'));
  const edited = Buffer.from(JSON.stringify({ ...claims, role: 'ADMIN' })).toString('base64url');
  return [header, edited, signature].join('.');
}

const badTokens: [string, () => Promise<string> | string, RegExp][] = [
  ['expired', () => token((jwt) => jwt.setIssuedAt(inSeconds(-7200)).setExpirationTime(inSeconds(-60))), /expired/],
  ['tampered (payload edited to ADMIN, signature kept)', tampered, /Invalid token/],
  [
    'unsigned (alg: none)',
    () =>
      new UnsecuredJWT({ role: 'ADMIN' })
        .setSubject(alice.id)
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(inSeconds(600))
        .encode(),
    /Invalid token/,
  ],
  [
    'signed with another secret',
    () => token(undefined, { secret: 'another-secret-0123456789abcdef' }),
    /Invalid token/,
  ],
  [
    'signed HS512 with the right secret (only HS256 is accepted)',
    () => token(undefined, { alg: 'HS512' }),
    /Invalid token/,
  ],
  ['from another issuer', () => token((jwt) => jwt.setIssuer('someone-else')), /Invalid token/],
  ['for another audience', () => token((jwt) => jwt.setAudience('another-api')), /Invalid token/],
  [
    'without an expiry',
    () =>
      new SignJWT({ role: 'CUSTOMER' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(alice.id)
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .sign(key(TEST_JWT_SECRET)),
    /Invalid token/,
  ],
  ['naming no user', () => token((jwt) => jwt.setSubject('not-a-user-id')), /Invalid token/],
];

function live(t?: string): LiveConnection {
  const c = connectLive(stack.url, t);
  connections.push(c);
  return c;
}

describe('a valid token', () => {
  test('works over HTTP and opens a WebSocket', async () => {
    const r = await stack.gql(ME, {}, alice.token);
    expect(r.data.me.id).toBe(alice.id);
    await expect(live(alice.token).accepted).resolves.toBeUndefined();
  });

  test('is an HS256 token for this API that expires JWT_TTL (12 hours by default) after it was issued', () => {
    expect(JSON.parse(Buffer.from(alice.token.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg: 'HS256' });
    const claims = decodeJwt(alice.token);
    expect(claims).toMatchObject({ iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, sub: alice.id });
    expect(claims.exp! - claims.iat!).toBe(12 * 3600);
  });
});

describe.each(badTokens)('a token %s', (_name, make, message) => {
  test('is UNAUTHENTICATED with HTTP 401, and no data', async () => {
    const r = await stack.gql(ME, {}, await make());
    expect(r.status).toBe(401);
    expect(r.errors).toHaveLength(1);
    expect(r.errors![0]).toMatchObject({
      message: expect.stringMatching(message),
      extensions: { code: 'UNAUTHENTICATED' },
    });
    expect(r.data).toBeUndefined();
  });

  test('cannot open a WebSocket: the connection is refused with 4403 Forbidden', async () => {
    const conn = live(await make());
    await expect(conn.closed).resolves.toEqual({ code: 4403, reason: 'Forbidden' });
    await expect(conn.accepted).rejects.toEqual({ code: 4403, reason: 'Forbidden' });
  });
});
