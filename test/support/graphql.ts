// Speaking to an API server as its clients do: GraphQL over HTTP, and sessions from signUp / logIn.
import { randomBytes } from 'node:crypto';
import { createUser } from '../../src/lib/users.js';
import { Role } from '../../src/models/status.js';
import { runCli } from './processes.js';

export interface GqlResult<T = any> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: { code?: string; [k: string]: unknown }; path?: string[] }[];
  headers: Headers;
}

export async function gql<T = any>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  token?: string,
): Promise<GqlResult<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: GqlResult['errors'] };
  return { status: res.status, data: body.data, errors: body.errors, headers: res.headers };
}

/** The data of an operation that must succeed (throws with its errors otherwise). */
export async function gqlData<T = any>(url: string, query: string, variables?: Record<string, unknown>, token?: string): Promise<T> {
  const r = await gql<T>(url, query, variables, token);
  if (!r.data || r.errors?.length) throw new Error(`GraphQL operation failed: ${JSON.stringify(r.errors)}`);
  return r.data;
}

/** The error code of a result's first error; undefined when it has none. */
export function codeOf(r: GqlResult): string | undefined {
  return r.errors?.[0]?.extensions?.code;
}

export interface Session {
  token: string;
  id: string;
  email: string;
}

export interface SignUpInput {
  email: string;
  username: string;
  password: string;
  firstName: string;
  lastName: string;
}

let counter = 0;
/** Unique among the users a run makes, without coordination between processes. */
const unique = () => `${Date.now().toString(36)}${(counter++).toString(36)}${randomBytes(2).toString('hex')}`;

/** A new customer, signed up at `url`; `input` overrides the generated email, username and password. */
export async function signUp(url: string, input: Partial<SignUpInput> = {}): Promise<Session> {
  const id = unique();
  const data = await gqlData(url, `mutation($input: SignUpInput!) { signUp(input: $input) { token user { id email } } }`, {
    input: { email: `user${id}@example.com`, username: `user${id}`, password: 'correct horse battery', ...input },
  });
  return { token: data.signUp.token, id: data.signUp.user.id, email: data.signUp.user.email };
}

export async function logIn(url: string, email: string, password: string): Promise<Session> {
  const data = await gqlData(url, `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token user { id } } }`, {
    e: email,
    p: password,
  });
  return { token: data.logIn.token, id: data.logIn.user.id, email };
}

/**
 * A new admin, logged in at `url`. Stored through this process's database connection, or, given `mongoUri`
 * (a process with no connection, such as a benchmark), with the project's CLI (`npm run create-admin`).
 */
export async function createAdmin(url: string, options: { mongoUri?: string } = {}): Promise<Session> {
  const id = unique();
  const email = `admin${id}@example.com`;
  const password = 'admin password 1';
  if (options.mongoUri) {
    const env = { NODE_ENV: 'test', LOG_LEVEL: 'warn', MONGODB_URI: options.mongoUri };
    const { code, output } = await runCli('cli/create-admin.js', env, ['--email', email, '--password', password]);
    if (code !== 0) throw new Error(`create-admin failed (${code}):\n${output}`);
  } else {
    await createUser({ email, username: `admin${id}`, password, role: Role.ADMIN });
  }
  return logIn(url, email, password);
}

/**
 * An operation that must succeed, with the moment its response began to arrive (`performance.now()`, taken when
 * the response's first bytes are parsed, not after its body is read): where a request path ends, for counting what
 * a server sends before answering (test/support/command-proxy.ts) against what it does after.
 */
export async function gqlTimed<T = any>(
  url: string,
  query: string,
  variables: Record<string, unknown> | undefined,
  token: string | undefined,
): Promise<{ data: T; sentAt: number; answeredAt: number }> {
  const { request } = await import('node:http');
  const body = JSON.stringify({ query, variables });
  return new Promise((resolve, reject) => {
    const sentAt = performance.now();
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        const answeredAt = performance.now();
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          const parsed = JSON.parse(text) as { data?: T; errors?: unknown[] };
          if (!parsed.data || parsed.errors?.length) reject(new Error(`GraphQL operation failed: ${JSON.stringify(parsed.errors)}`));
          else resolve({ data: parsed.data, sentAt, answeredAt });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
