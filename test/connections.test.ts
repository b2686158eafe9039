// Paged lists as clients read them: every connection offers Relay's `edges { cursor node }` beside `nodes`, and
// Apollo Client 4's cache with `relayStylePagination()` (the set-up the README shows) pages through all of them.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApolloClient, HttpLink, InMemoryCache, gql as apolloGql } from '@apollo/client';
import { relayStylePagination } from '@apollo/client/utilities';
import { getNamedType, isListType, isNonNullType, isObjectType, type GraphQLObjectType } from 'graphql';
import { createLiveHub } from '../src/live/channel.js';
import { buildAppSchema } from '../src/schema/index.js';
import { ROOT } from './support/processes.js';
import { startStack, type TestStack } from './support/stack.js';

test('every connection type has edges { cursor node } whose nodes are the type of its nodes', async () => {
  const schema = await buildAppSchema(createLiveHub());
  const connections = Object.values(schema.getTypeMap()).filter(
    (t): t is GraphQLObjectType => isObjectType(t) && t.name.endsWith('Connection'),
  );
  expect(connections.map((c) => c.name)).toContain('ReservationConnection');
  for (const connection of connections) {
    const fields = connection.getFields();
    const nodeType = getNamedType(fields.nodes!.type);
    const edges = fields.edges;
    expect(`${connection.name}.edges: ${edges?.type}`).toBe(`${connection.name}.edges: [${nodeType.name}Edge!]!`);
    const edge = getNamedType(edges!.type) as GraphQLObjectType;
    expect(String(edge.getFields().cursor!.type)).toBe('String!');
    expect(String(edge.getFields().node!.type)).toBe(`${nodeType.name}!`);
    const pageInfo = fields.pageInfo!.type;
    expect(isNonNullType(pageInfo) && !isListType(pageInfo.ofType) && String(pageInfo)).toBe('PageInfo!');
  }
});

describe('Apollo Client 4 with relayStylePagination()', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ prefix: 'connections' });
  });
  afterAll(() => stack.stop());

  const RESERVATIONS = apolloGql`
    query Reservations($status: ReservationStatus, $first: Int, $after: String) {
      reservations(status: $status, first: $first, after: $after) {
        edges { cursor node { id reference startTime status } }
        pageInfo { hasNextPage endCursor }
        totalCount
      }
    }
  `;

  test('three pages through the cache: every reservation once, in start-time order', async () => {
    const customer = await stack.signUp();
    const created: { id: string; startTime: string }[] = [];
    for (let i = 0; i < 12; i++) {
      const startTime = new Date(Date.now() + (i + 1) * 3_600_000).toISOString();
      created.push(await stack.createReservation(customer.token, { startTime }));
    }

    // The README's client set-up (without the WebSocket link: queries only).
    const client = new ApolloClient({
      link: new HttpLink({ uri: stack.url, headers: { authorization: `Bearer ${customer.token}` } }),
      cache: new InMemoryCache({
        typePolicies: { Query: { fields: { reservations: relayStylePagination(['status', 'startFrom', 'startTo']) } } },
      }),
    });
    const query = client.watchQuery({ query: RESERVATIONS, variables: { first: 5 } });
    const pages: number[] = [];
    let result: any = await client.query({ query: RESERVATIONS, variables: { first: 5 } });
    pages.push(result.data.reservations.edges.length);
    while (result.data.reservations.pageInfo.hasNextPage) {
      const next: any = await query.fetchMore({ variables: { after: result.data.reservations.pageInfo.endCursor } });
      pages.push(next.data.reservations.edges.length);
      // What a component reads: the cache's merged list.
      result = { data: client.readQuery({ query: RESERVATIONS, variables: { first: 5 } }) };
    }
    expect(pages).toEqual([5, 5, 2]);
    const ids = result.data.reservations.edges.map((e: { node: { id: string } }) => e.node.id);
    expect(ids).toEqual(created.map((c) => c.id));
    expect(result.data.reservations.totalCount).toBe(12);
    expect(result.data.reservations.pageInfo.hasNextPage).toBe(false);
    client.stop();
  });
});

test("the README's client set-up type-checks against Apollo Client 4 and graphql-ws", async () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const snippet = /```ts\n(import \{ ApolloClient[\s\S]*?)```/.exec(readme)?.[1];
  expect(snippet).toContain('relayStylePagination');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'readme-client-'));
  try {
    fs.writeFileSync(path.join(dir, 'client.ts'), snippet!);
    fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}');
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, lib: ['ES2023', 'DOM'], skipLibCheck: true, noEmit: true, types: [] },
        files: ['client.ts'],
      }),
    );
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', dir]).catch((err: { stdout: string; code: number }) => err);
    expect((result as { stdout: string }).stdout).toBe('');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
