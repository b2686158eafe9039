import { codeOf, startStack, type TestStack } from './support/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack({ prefix: 'auth' });
});
afterAll(() => stack.stop());

const SIGN_UP = `mutation($input: SignUpInput!) { signUp(input: $input) { token user { id email username displayName role firstName lastName } } }`;
const LOG_IN = `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token user { id email } } }`;
const ME = `{ me { id email username displayName role } }`;

describe('signing up and logging in', () => {
  test('a new customer signs up, gets a token, and `me` answers with their account', async () => {
    const r = await stack.gql(SIGN_UP, {
      input: { email: 'Ada@Example.com', username: 'ada', password: 'analytical engine', firstName: 'Ada', lastName: 'Lovelace' },
    });
    expect(r.errors).toBeUndefined();
    expect(r.data.signUp.user).toMatchObject({
      email: 'ada@example.com',
      username: 'ada',
      displayName: 'Ada Lovelace',
      role: 'CUSTOMER',
      firstName: 'Ada',
      lastName: 'Lovelace',
    });
    const me = await stack.gql(ME, {}, r.data.signUp.token);
    expect(me.data.me).toMatchObject({ id: r.data.signUp.user.id, email: 'ada@example.com', role: 'CUSTOMER' });
  });

  test('displayName falls back to the username without a first name', async () => {
    const r = await stack.gql(SIGN_UP, { input: { email: 'nofirst@example.com', username: 'nofirst', password: 'long enough pw' } });
    expect(r.data.signUp.user.displayName).toBe('nofirst');
  });

  test('logIn with the right password returns a working token; email is case-insensitive', async () => {
    await stack.gql(SIGN_UP, { input: { email: 'grace@example.com', username: 'grace', password: 'cobol forever' } });
    const r = await stack.gql(LOG_IN, { e: 'GRACE@example.com', p: 'cobol forever' });
    expect(r.errors).toBeUndefined();
    const me = await stack.gql(ME, {}, r.data.logIn.token);
    expect(me.data.me.email).toBe('grace@example.com');
  });

  test('a wrong password and an unknown email get the same UNAUTHENTICATED error', async () => {
    await stack.gql(SIGN_UP, { input: { email: 'alan@example.com', username: 'alan', password: 'enigma machine' } });
    const wrong = await stack.gql(LOG_IN, { e: 'alan@example.com', p: 'bombe machine' });
    const unknown = await stack.gql(LOG_IN, { e: 'nobody@example.com', p: 'bombe machine' });
    expect(codeOf(wrong)).toBe('UNAUTHENTICATED');
    expect(codeOf(unknown)).toBe('UNAUTHENTICATED');
    expect(wrong.errors![0]!.message).toBe(unknown.errors![0]!.message);
    expect(wrong.data).toBeNull();
  });

  test('passwords are never returned: the User type has no password field', async () => {
    const r = await stack.gql(`{ __type(name: "User") { fields { name } } }`);
    const names = r.data.__type.fields.map((f: { name: string }) => f.name);
    expect(names).not.toContain('password');
    expect(names).not.toContain('passwordHash');
  });

  test('me is null without a token', async () => {
    const r = await stack.gql(ME);
    expect(r.errors).toBeUndefined();
    expect(r.data.me).toBeNull();
  });

  test.each([
    ['garbage', 'Bearer not-a-jwt'],
    ['wrong scheme', 'Basic dXNlcjpwYXNz'],
  ])('a bad token (%s) is UNAUTHENTICATED with HTTP 401', async (_name, header) => {
    const res = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: header },
      body: JSON.stringify({ query: ME }),
    });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
  });
});

describe('sign-up validation', () => {
  const valid = { email: 'valid@example.com', username: 'valid_user', password: 'long enough' };
  test.each([
    ['a malformed email', { email: 'not-an-email' }, 'email'],
    ['a password under 8 characters', { password: 'short' }, 'password'],
    ['a too-short username', { username: 'ab' }, 'username'],
    ['a username with spaces', { username: 'two words' }, 'username'],
  ])('rejects %s with BAD_USER_INPUT and creates nothing', async (_name, patch, field) => {
    const r = await stack.gql(SIGN_UP, { input: { ...valid, ...patch } });
    expect(codeOf(r)).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(r.errors)).toContain(field);
    const login = await stack.gql(LOG_IN, { e: valid.email, p: valid.password });
    expect(codeOf(login)).toBe('UNAUTHENTICATED');
  });

  test('a duplicate email (any case) or username is BAD_USER_INPUT', async () => {
    await stack.gql(SIGN_UP, { input: { email: 'dup@example.com', username: 'dupuser', password: 'long enough' } });
    const sameEmail = await stack.gql(SIGN_UP, { input: { email: 'DUP@example.com', username: 'other', password: 'long enough' } });
    const sameName = await stack.gql(SIGN_UP, { input: { email: 'other@example.com', username: 'DupUser', password: 'long enough' } });
    expect(codeOf(sameEmail)).toBe('BAD_USER_INPUT');
    expect(sameEmail.errors![0]!.message).toMatch(/email/);
    expect(codeOf(sameName)).toBe('BAD_USER_INPUT');
    expect(sameName.errors![0]!.message).toMatch(/username/);
  });
});
