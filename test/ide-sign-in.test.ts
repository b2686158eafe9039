// The browser IDE against a server that shows its schema to admins only (GRAPHQL_INTROSPECTION=admins), in headless
// Chromium cut off from every other host: its sign-in panel (email and password → logIn → the token on every
// request, for the tab's session only) loads the schema for an admin; a customer's queries run without it.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { GraphiQLPage, launchChromium, offlineContext } from './support/browser.js';
import { pollUntil } from './support/poll.js';
import { gql, startStack, type Session, type TestStack } from './support/stack.js';

const CUSTOMER_PASSWORD = 'correct horse battery';
const ADMIN_PASSWORD = 'admin password 1';

let stack: TestStack;
let browser: Browser;
let customer: Session;
let admin: Session;

beforeAll(async () => {
  stack = await startStack({ prefix: 'idesignin', env: { GRAPHQL_INTROSPECTION: 'admins' } });
  [browser, customer, admin] = await Promise.all([launchChromium(), stack.signUp(), stack.admin()]);
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

/** A fresh browser (its own storage), the IDE open, and what the page reported that a user would not see. */
async function openIde(url = stack.url): Promise<{ context: BrowserContext; page: Page; ide: GraphiQLPage; blocked: string[]; problems: string[] }> {
  const { context, blocked } = await offlineContext(browser);
  const problems: string[] = [];
  context.on('weberror', (err) => problems.push(`page error: ${err.error().message}`));
  context.on('console', (msg) => {
    // The refused introspection is an answer the IDE shows, not a page problem: Chromium logs every 400 response.
    if (msg.type() === 'error' && !/status of 400/.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  const page = await context.newPage();
  const ide = new GraphiQLPage(page);
  await ide.open(url);
  return { context, page, ide, blocked, problems };
}

async function signIn(page: Page, email: string, password: string): Promise<void> {
  const form = page.getByRole('form', { name: 'Sign in' });
  await form.getByLabel('Email').fill(email);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Sign in' }).click();
}

/** Opens the documentation explorer and returns its text once it shows the schema or says it has none. */
async function docsExplorer(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
  const explorer = page.getByRole('region', { name: 'Documentation Explorer' });
  return pollUntil(
    () => explorer.innerText(),
    (text) => /Root Types|Error fetching schema|No GraphQL schema available/.test(text),
    'the documentation explorer to settle',
  );
}

test('an admin signs in: the docs explorer shows the schema, and a query runs with the token', async () => {
  const { context, page, ide, blocked, problems } = await openIde();
  try {
    // Before signing in the schema is hidden, and the IDE shows why.
    await ide.result((r) => r.errors?.length > 0, 'the refused introspection');
    expect(await ide.text(ide.resultPane)).toContain("Introspection is answered only for an admin's token");

    await signIn(page, admin.email, ADMIN_PASSWORD);
    await page.getByText(`Signed in as ${admin.email} (ADMIN)`).waitFor();

    const docs = await docsExplorer(page);
    expect(docs).toContain('Root Types');
    expect(docs).toMatch(/query\s*:\s*Query/);
    expect(docs).toMatch(/mutation\s*:\s*Mutation/);
    expect(docs).toMatch(/subscription\s*:\s*Subscription/);
    // A type of the schema, one click away.
    await page.getByRole('region', { name: 'Documentation Explorer' }).getByText('Query', { exact: true }).click();
    await pollUntil(
      () => page.getByRole('region', { name: 'Documentation Explorer' }).innerText(),
      (text) => text.includes('reservations') && text.includes('me'),
      "Query's fields",
    );

    // The headers editor is left as it is (the hint): the signed-in token goes with the request.
    await ide.run('query Me { me { id email role } }');
    expect(await ide.result((r) => r.data?.me || r.errors, 'the admin’s `me`')).toEqual({
      data: { me: { id: admin.id, email: admin.email, role: 'ADMIN' } },
    });

    // Kept for the tab's session only: in sessionStorage, never in localStorage.
    expect(JSON.stringify(await page.evaluate('({ ...sessionStorage })'))).toContain(admin.email);
    expect(JSON.stringify(await page.evaluate('({ ...localStorage })'))).not.toMatch(/eyJ/);
    // A new tab of the same browser starts signed out.
    const other = new GraphiQLPage(await context.newPage());
    await other.open(stack.url);
    await other.page.getByRole('form', { name: 'Sign in' }).waitFor();

    expect(blocked).toEqual([]);
    expect(problems).toEqual([]);
  } finally {
    await context.close();
  }
});

test('a customer signs in: the schema stays hidden, and queries still run with the token', async () => {
  const { context, page, ide, blocked, problems } = await openIde();
  try {
    // A wrong password says so, in the panel.
    await signIn(page, customer.email, 'not the password');
    await pollUntil(() => page.getByRole('alert').innerText(), (t) => t === 'Invalid email or password', 'the refusal in the panel');

    await signIn(page, customer.email, CUSTOMER_PASSWORD);
    await page.getByText(`Signed in as ${customer.email} (CUSTOMER)`).waitFor();

    await ide.result((r) => r.errors?.length > 0, 'the refused introspection');
    expect(await ide.text(ide.resultPane)).toContain("Introspection is answered only for an admin's token");
    const docs = await docsExplorer(page);
    expect(docs).not.toContain('Root Types');
    expect(docs).toContain('Error fetching schema');

    await ide.run('query Me { me { id email role } }');
    expect(await ide.result((r) => r.data?.me || r.data?.__schema, 'the customer’s `me`')).toEqual({
      data: { me: { id: customer.id, email: customer.email, role: 'CUSTOMER' } },
    });

    // Signing out: the next request is anonymous again.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    await ide.run('query Me { me { id } }');
    expect(await ide.result((r) => r.data && 'me' in r.data, 'the anonymous `me`')).toEqual({ data: { me: null } });
    // And signing in again works as the first time.
    await signIn(page, customer.email, CUSTOMER_PASSWORD);
    await page.getByText(`Signed in as ${customer.email} (CUSTOMER)`).waitFor();

    expect(blocked).toEqual([]);
    expect(problems).toEqual([]);
  } finally {
    await context.close();
  }
});

test('a sign-in the server no longer accepts (its token expired) signs the panel out, saying why', async () => {
  // A server issuing 3-second tokens, on the same database.
  const shortLived = await stack.startApi({ JWT_TTL: '3 seconds' });
  const { context, page, ide, blocked, problems } = await openIde(shortLived.url);
  try {
    await signIn(page, customer.email, CUSTOMER_PASSWORD);
    await page.getByText(`Signed in as ${customer.email} (CUSTOMER)`).waitFor();
    const { token } = JSON.parse((await page.evaluate('sessionStorage.getItem("ide:session")')) as string);
    await pollUntil(() => gql(shortLived.url, '{ me { id } }', {}, token), (r) => r.status === 401, 'the token to expire', 15_000, 250);

    await ide.run('query Me { me { id } }');
    await pollUntil(
      () => page.getByRole('alert').innerText(),
      (t) => t === 'The server no longer accepts your sign-in (expired, or the account changed): sign in again.',
      'the panel to say why it signed out',
    );
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate('sessionStorage.getItem("ide:session")')).toBeNull();
    expect(blocked).toEqual([]);
    // The 401 itself is the server's answer, not a page problem.
    expect(problems.filter((p) => !/status of 401/.test(p))).toEqual([]);
  } finally {
    await context.close();
    await shortLived.stop();
  }
});
