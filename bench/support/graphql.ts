// Speaking to the API server as its clients do: GraphQL over HTTP, sessions from signUp / logIn, admins made with
// the project's own CLI (`npm run create-admin`).
import { randomBytes } from 'node:crypto';
import { startNode } from './processes.js';

export interface GqlResult<T> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export async function gql<T = any>(url: string, query: string, variables?: Record<string, unknown>, token?: string): Promise<GqlResult<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GqlResult<T>;
}

/** The data of a result that must have succeeded. */
export async function gqlData<T = any>(url: string, query: string, variables?: Record<string, unknown>, token?: string): Promise<T> {
  const r = await gql<T>(url, query, variables, token);
  if (!r.data || r.errors?.length) throw new Error(`GraphQL operation failed: ${JSON.stringify(r.errors)}`);
  return r.data;
}

export interface Session {
  token: string;
  id: string;
}

export async function signUp(url: string): Promise<Session> {
  const id = randomBytes(5).toString('hex');
  const data = await gqlData(url, `mutation($i: SignUpInput!) { signUp(input: $i) { token user { id } } }`, {
    i: { email: `guest${id}@example.com`, username: `guest${id}`, password: 'correct horse battery', firstName: 'Bench', lastName: `Guest ${id}` },
  });
  return { token: data.signUp.token, id: data.signUp.user.id };
}

/** Makes an admin with `npm run create-admin` against `mongoUri`, then logs in at `url`. */
export async function createAdmin(url: string, mongoUri: string): Promise<Session> {
  const email = `admin${randomBytes(5).toString('hex')}@example.com`;
  const password = 'admin password 1';
  const p = startNode('src/cli/create-admin.js', { NODE_ENV: 'test', LOG_LEVEL: 'warn', MONGODB_URI: mongoUri }, ['--email', email, '--password', password]);
  const code = await p.exited;
  if (code !== 0) throw new Error(`create-admin failed (${code}):\n${p.lines.join('\n')}`);
  const data = await gqlData(url, `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token user { id } } }`, { e: email, p: password });
  return { token: data.logIn.token, id: data.logIn.user.id };
}
