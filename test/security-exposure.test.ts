// What an outside scanner (graphql-cop and friends) learns about the schema, and how far it can inflate one
// operation: introspection per GRAPHQL_INTROSPECTION for anonymous clients, customers and admins; no field
// suggestions in production errors; aliases and directives bounded on every field, `__typename` included.
import { parseConfig } from '../src/config.js';
import { connectLive, type LiveConnection } from './support/live.js';
import { baseEnv, codeOf, gql, startStack, type GqlResult, type InProcessApi, type Session, type TestStack } from './support/stack.js';

let stack: TestStack;
let customer: Session;
let admin: Session;
const servers: InProcessApi[] = [];

beforeAll(async () => {
  stack = await startStack({ prefix: 'exposure' });
  [customer, admin] = await Promise.all([stack.signUp(), stack.admin()]);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await stack?.stop();
});

/** Another API server on the stack's database (tokens are valid on all of them: one secret). */
async function serverWith(env: Record<string, string>): Promise<string> {
  const api = await stack.startApi(env);
  servers.push(api);
  return api.url;
}

const PRODUCTION = { NODE_ENV: 'production', SENDGRID_API_KEY: 'SG.not-used-by-the-api' };

const SCHEMA_QUERY = '{ __schema { queryType { name } } }';
const TYPE_QUERY = '{ __type(name: "Reservation") { name } }';
const THROUGH_FRAGMENT = '{ ...Peek } fragment Peek on Query { __schema { mutationType { name } } }';

function expectIntrospectionRefused(r: GqlResult, message: RegExp): void {
  expect(r.status).toBe(400);
  expect(r.data).toBeUndefined();
  expect(r.errors).toHaveLength(1);
  expect(r.errors![0]!.message).toMatch(message);
  expect(r.errors![0]!.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'INTROSPECTION_DISABLED' });
}

async function expectIntrospectionAnswered(url: string, token?: string): Promise<void> {
  expect(await gql(url, SCHEMA_QUERY, {}, token)).toMatchObject({ status: 200, data: { __schema: { queryType: { name: 'Query' } } } });
  expect(await gql(url, TYPE_QUERY, {}, token)).toMatchObject({ status: 200, data: { __type: { name: 'Reservation' } } });
  expect(await gql(url, THROUGH_FRAGMENT, {}, token)).toMatchObject({
    status: 200,
    data: { __schema: { mutationType: { name: 'Mutation' } } },
  });
}

async function expectIntrospectionRefusedAll(url: string, message: RegExp, token?: string): Promise<void> {
  for (const query of [SCHEMA_QUERY, TYPE_QUERY, THROUGH_FRAGMENT]) expectIntrospectionRefused(await gql(url, query, {}, token), message);
  // The same client's ordinary operations run as before (`__typename` is no introspection).
  const me = await gql(url, '{ __typename me { id } }', {}, token);
  expect(me).toMatchObject({ status: 200, data: { __typename: 'Query' } });
  expect(me.errors).toBeUndefined();
}

const ADMINS_ONLY = /^Introspection is answered only for an admin's token on this server; the schema is published as schema\.graphql$/;
const DISABLED = /^Introspection is disabled on this server; the schema is published as schema\.graphql$/;

describe('GRAPHQL_INTROSPECTION', () => {
  test('on: anonymous clients, customers and admins may all introspect', async () => {
    const url = await serverWith({ GRAPHQL_INTROSPECTION: 'on' });
    await expectIntrospectionAnswered(url);
    await expectIntrospectionAnswered(url, customer.token);
    await expectIntrospectionAnswered(url, admin.token);
  });

  test("admins: only an admin's token introspects; anonymous clients and customers are refused", async () => {
    const url = await serverWith({ GRAPHQL_INTROSPECTION: 'admins' });
    await expectIntrospectionRefusedAll(url, ADMINS_ONLY);
    await expectIntrospectionRefusedAll(url, ADMINS_ONLY, customer.token);
    await expectIntrospectionAnswered(url, admin.token);
  });

  test('off: nobody introspects, admins included', async () => {
    const url = await serverWith({ GRAPHQL_INTROSPECTION: 'off' });
    await expectIntrospectionRefusedAll(url, DISABLED);
    await expectIntrospectionRefusedAll(url, DISABLED, customer.token);
    await expectIntrospectionRefusedAll(url, DISABLED, admin.token);
  });

  test('unset: admins in production, on in development and tests', async () => {
    const env = (extra: Record<string, string>) => baseEnv(stack.mongoUri, extra);
    expect(parseConfig(env(PRODUCTION)).GRAPHQL_INTROSPECTION).toBe('admins');
    expect(parseConfig(env({ NODE_ENV: 'development' })).GRAPHQL_INTROSPECTION).toBe('on');
    expect(parseConfig(env({ NODE_ENV: 'test' })).GRAPHQL_INTROSPECTION).toBe('on');
    expect(parseConfig(env({ ...PRODUCTION, GRAPHQL_INTROSPECTION: 'On' })).GRAPHQL_INTROSPECTION).toBe('on');

    // A production server as configured by default, asked as a scanner asks, and as an admin.
    const url = await serverWith(PRODUCTION);
    await expectIntrospectionRefusedAll(url, ADMINS_ONLY);
    await expectIntrospectionAnswered(url, admin.token);
  });

  test.each([
    ['GRAPHQL_INTROSPECTION', 'yes', /^Invalid configuration: GRAPHQL_INTROSPECTION must be one of on, admins, off \(got "yes"\)$/],
    ['QUERY_MAX_DIRECTIVES', '-1', /^Invalid configuration: QUERY_MAX_DIRECTIVES /],
    ['SIGNUP_MAX_PER_ADDRESS', '0', /^Invalid configuration: SIGNUP_MAX_PER_ADDRESS /],
    ['SIGNUP_WINDOW', '60', /^Invalid configuration: SIGNUP_WINDOW must be a length of time such as "1 hour" \(got "60"\)$/],
    ['AUTH_RECHECK_INTERVAL', 'often', /^Invalid configuration: AUTH_RECHECK_INTERVAL must be a length of time such as "10 seconds" \(got "often"\)$/],
  ])('a bad %s stops start-up with one line naming it', (name, value, message) => {
    expect(() => parseConfig(baseEnv(stack.mongoUri, { [name]: value }))).toThrow(message);
  });
});

describe('field suggestions', () => {
  const MISSPELT = '{ reservationz { totalCount } }';
  const BAD_VARIABLE = 'mutation($i: SignUpInput!) { signUp(input: $i) { token } }';
  const badVariables = { i: { email: 'x@example.com', username: 'someone', password: 'long enough password', frstName: 'Al' } };

  test('in production, errors name no field the client did not write', async () => {
    const url = await serverWith(PRODUCTION);
    const misspelt = await gql(url, MISSPELT);
    expect(codeOf(misspelt)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(misspelt.errors![0]!.message).toBe('Cannot query field "reservationz" on type "Query".');
    // Variable values are checked outside validation: their suggestions go too.
    const variable = await gql(url, BAD_VARIABLE, badVariables);
    expect(codeOf(variable)).toBe('BAD_USER_INPUT');
    expect(variable.errors![0]!.message).toMatch(/Field "frstName" is not defined by type "SignUpInput"\.$/);
    expect(JSON.stringify([misspelt.errors, variable.errors])).not.toMatch(/Did you mean|"reservations?"|"firstName"/);

    // Subscriptions are validated outside Apollo, over WebSocket: the same.
    const live = connectLive(url, customer.token);
    try {
      await live.accepted;
      const sub = live.subscribe('subscription { reservationStatusChanged { reservaton { id } } }');
      await sub.waitFor(() => sub.errors.length > 0, 'the refusal');
      expect(sub.errors[0]).toMatchObject({
        message: 'Cannot query field "reservaton" on type "ReservationStatusChange".',
        extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
      });
    } finally {
      await live.dispose();
    }
  });

  test('wherever introspection is not open to everyone, errors suggest nothing either', async () => {
    const url = await serverWith({ GRAPHQL_INTROSPECTION: 'admins' });
    const misspelt = await gql(url, MISSPELT, {}, admin.token);
    expect(misspelt.errors![0]!.message).toBe('Cannot query field "reservationz" on type "Query".');
    // Outside production the stack trace is shown: it repeats the message, without the suggestion too.
    expect(misspelt.errors![0]!.extensions!.stacktrace).toEqual(expect.arrayContaining([expect.stringContaining('reservationz')]));
    expect(JSON.stringify(misspelt.errors)).not.toMatch(/Did you mean/);
  });

  test('in development (introspection on) the suggestions stay, to help whoever writes the query', async () => {
    const misspelt = await gql(stack.url, MISSPELT);
    expect(misspelt.errors![0]!.message).toBe(
      'Cannot query field "reservationz" on type "Query". Did you mean "reservation" or "reservations"?',
    );
    const variable = await gql(stack.url, BAD_VARIABLE, badVariables);
    expect(variable.errors![0]!.message).toMatch(/Field "frstName" is not defined by type "SignUpInput"\. Did you mean "firstName", "lastName", or "username"\?$/);
    const live = connectLive(stack.url, customer.token);
    try {
      await live.accepted;
      const sub = live.subscribe('subscription { reservationStatusChanged { reservaton { id } } }');
      await sub.waitFor(() => sub.errors.length > 0, 'the refusal');
      expect(sub.errors[0]).toMatchObject({
        message: 'Cannot query field "reservaton" on type "ReservationStatusChange". Did you mean "reservation"?',
      });
    } finally {
      await live.dispose();
    }
  });
});

describe('aliases and directives, `__typename` included', () => {
  const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename`).join(' ')} }`;
  // One directive on each of n aliased `__typename`s (a directive such as @include may appear once per field).
  const directives = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `d${i}: __typename @include(if: true)`).join(' ')} }`;

  test('15 aliases of __typename run; 16 are refused (QUERY_MAX_ALIASES default)', async () => {
    const ok = await gql(stack.url, aliases(15));
    expect(ok.status).toBe(200);
    expect(Object.keys(ok.data)).toHaveLength(15);
    const refused = await gql(stack.url, aliases(16));
    expect(refused.status).toBe(400);
    expect(refused.data).toBeUndefined();
    expect(codeOf(refused)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(refused.errors![0]!.message).toMatch(/Aliases limit of 15 exceeded, found 16/);
  });

  test('a hundred aliases of __typename, as a scanner sends them, are refused in production too', async () => {
    const url = await serverWith(PRODUCTION);
    const refused = await gql(url, aliases(100));
    expect(codeOf(refused)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(refused.errors![0]!.message).toMatch(/Aliases limit of 15 exceeded, found 100/);
  });

  test('10 directives run; 11 are refused (QUERY_MAX_DIRECTIVES default), on __typename or anywhere', async () => {
    const ok = await gql(stack.url, directives(10));
    expect(ok.status).toBe(200);
    expect(Object.keys(ok.data)).toHaveLength(10);
    const refused = await gql(stack.url, directives(11));
    expect(refused.status).toBe(400);
    expect(codeOf(refused)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(refused.errors![0]!.message).toMatch(/Directives limit of 10 exceeded, found 11/);
    // Spread over fields and fragments, they add up.
    const spread = `{ me @include(if: true) { id @skip(if: false) email @skip(if: false) username @include(if: true) } ...F @include(if: true) }
      fragment F on Query {
        a: __typename @include(if: true) b: __typename @skip(if: false) c: __typename @include(if: true) @skip(if: false)
        d: __typename @include(if: true) e: __typename @skip(if: false)
      }`;
    expect((await gql(stack.url, spread, {}, customer.token)).errors![0]!.message).toMatch(/Directives limit of 10 exceeded, found 11/);
  });

  test('QUERY_MAX_ALIASES=2 and QUERY_MAX_DIRECTIVES=0 are what they say', async () => {
    const url = await serverWith({ QUERY_MAX_ALIASES: '2', QUERY_MAX_DIRECTIVES: '0' });
    expect((await gql(url, aliases(2))).status).toBe(200);
    expect((await gql(url, aliases(3))).errors![0]!.message).toMatch(/Aliases limit of 2 exceeded, found 3/);
    expect((await gql(url, '{ __typename }')).status).toBe(200);
    expect((await gql(url, '{ __typename @include(if: true) }')).errors![0]!.message).toMatch(/Directives limit of 0 exceeded, found 1/);
  });

  test('over WebSocket, a subscription gets the same limits', async () => {
    let live: LiveConnection | undefined;
    try {
      live = connectLive(stack.url, customer.token);
      await live.accepted;
      const sub = live.subscribe(`subscription { reservationStatusChanged { ${aliases(16).slice(2, -2)} } }`);
      await sub.waitFor(() => sub.errors.length > 0, 'the refusal');
      expect(sub.errors[0]).toMatchObject({
        message: expect.stringMatching(/Aliases limit of 15 exceeded, found 16/),
        extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
      });
    } finally {
      await live?.dispose();
    }
  });
});
