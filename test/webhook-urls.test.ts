// Where webhooks may not go: with WEBHOOK_ALLOW_PRIVATE_URLS unset, an endpoint at a loopback, private, link-local
// or metadata address — literally or by its hostname — is refused with BAD_USER_INPUT and nothing is stored; in
// production, plain http is refused too. WEBHOOK_ALLOW_PRIVATE_URLS=true lifts both rules.
import mongoose from 'mongoose';
import { codeOf, startStack, type InProcessApi, type Session, type TestStack } from './support/stack.js';
import { gql } from './support/graphql.js';
import { CREATE_ENDPOINT } from './support/webhooks.js';

let stack: TestStack;
let production: InProcessApi;
let onPremises: InProcessApi;
let admin: Session;

beforeAll(async () => {
  stack = await startStack({ prefix: 'webhook-urls' });
  const prod = { NODE_ENV: 'production', SENDGRID_API_KEY: 'SG.unused', WEBHOOK_ENCRYPTION_KEY: 'k'.repeat(32) };
  production = await stack.startApi(prod);
  onPremises = await stack.startApi({ ...prod, WEBHOOK_ALLOW_PRIVATE_URLS: 'true' });
  admin = await stack.admin();
}, 60_000);

afterAll(async () => {
  await production.stop();
  await onPremises.stop();
  await stack.stop();
});

const create = (api: { url: string }, url: string) =>
  gql(api.url, CREATE_ENDPOINT, { input: { url, events: ['RESERVATION_CREATED'] } }, admin.token);
const count = async (api: { url: string }) => (await gql(api.url, '{ webhookEndpoints { id } }', {}, admin.token)).data.webhookEndpoints.length;

test.each([
  ['http://127.0.0.1/hooks', /https/],
  ['https://127.0.0.1/hooks', /127\.0\.0\.1/],
  ['http://169.254.169.254/latest/meta-data', /https/],
  ['https://169.254.169.254/latest/meta-data', /169\.254\.169\.254/],
  ['https://[::1]/hooks', /::1/],
  ['https://10.1.2.3/hooks', /10\.1\.2\.3/],
  ['https://[::ffff:192.168.1.1]/hooks', /192\.168\.1\.1/],
  // A hostname resolving to a private address: localhost resolves to loopback.
  ['https://localhost:8443/hooks', /resolves to (127\.0\.0\.1|::1)/],
  ['http://example.com/hooks', /https/],
  ['ftp://example.com/hooks', /http or https/],
  ['https://user:pass@example.com/hooks', /credentials/],
])('in production settings, %s is refused (BAD_USER_INPUT) and nothing is stored', async (url, message) => {
  const before = await count(production);
  const res = await create(production, url);
  expect(codeOf(res)).toBe('BAD_USER_INPUT');
  expect(res.errors![0]!.message).toMatch(message);
  expect(res.errors![0]!.extensions).toMatchObject({ field: 'url' });
  expect(await count(production)).toBe(before);
});

test('outside production, http is accepted but private addresses are still refused', async () => {
  expect(codeOf(await create(stack, 'http://127.0.0.1:9/hooks'))).toBe('BAD_USER_INPUT');
  expect(codeOf(await create(stack, 'http://localhost:9/hooks'))).toBe('BAD_USER_INPUT');
  expect(codeOf(await create(stack, 'http://169.254.169.254/'))).toBe('BAD_USER_INPUT');
});

test('updateWebhookEndpoint applies the same rules to a new url', async () => {
  const made = await create(onPremises, 'http://127.0.0.1:9/hooks');
  const id = made.data.createWebhookEndpoint.endpoint.id;
  const res = await gql(production.url, 'mutation($id: ID!, $url: String!) { updateWebhookEndpoint(id: $id, input: { url: $url }) { url } }', { id, url: 'https://192.168.0.10/' }, admin.token);
  expect(codeOf(res)).toBe('BAD_USER_INPUT');
  const list = (await gql(production.url, '{ webhookEndpoints { id url } }', {}, admin.token)).data.webhookEndpoints;
  expect(list.find((e: any) => e.id === id).url).toBe('http://127.0.0.1:9/hooks');
});

test('WEBHOOK_ALLOW_PRIVATE_URLS=true lifts both rules (on-premises receivers)', async () => {
  const res = await create(onPremises, 'http://127.0.0.1:9/hooks');
  expect(codeOf(res)).toBeUndefined();
  expect(res.data.createWebhookEndpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  expect(res.data.createWebhookEndpoint.endpoint).toMatchObject({ url: 'http://127.0.0.1:9/hooks', enabled: true, events: ['RESERVATION_CREATED'] });
});

test('a secret is stored encrypted: the database holds neither it nor its key bytes in clear', async () => {
  const res = await create(onPremises, 'http://127.0.0.1:9/stored');
  const secret: string = res.data.createWebhookEndpoint.secret;
  const stored = await mongoose.connection.collection('webhookEndpoints').findOne({ url: 'http://127.0.0.1:9/stored' });
  const dump = JSON.stringify(stored);
  expect(dump).not.toContain(secret);
  expect(dump).not.toContain(secret.slice('whsec_'.length, 30));
  expect(dump).not.toContain(Buffer.from(secret.slice('whsec_'.length), 'base64').toString('hex').slice(0, 24));
  expect(stored!.secrets[0].encrypted).toMatch(/^v1:/);
});
