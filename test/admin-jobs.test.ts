// The job dashboard (Agendash at /admin/jobs): admins only, signed in from a browser with their email and
// password (HTTP Basic) or from a script with their token; its page works offline; writes cannot be forged by
// another site.
import { effectsHandedOver } from './support/worker.js';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import mongoose from 'mongoose';
import { AGENDA_COLLECTION } from '../src/jobs/agenda.js';
import { JOB } from '../src/jobs/names.js';
import { createUser } from '../src/lib/users.js';
import { Role } from '../src/models/status.js';
import { User } from '../src/models/user.js';
import { launchChromium } from './support/browser.js';
import { startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { startSendGridStub } from './support/sendgrid-stub.js';
import { baseEnv, codeOf, startStack, type Session, type TestStack } from './support/stack.js';
import { pollUntil } from './support/poll.js';

const ADMIN_PASSWORD = 'dashboard admin password';
const CUSTOMER_PASSWORD = 'correct horse battery';

let stack: TestStack;
let admin: { email: string; token: string; id: string };
let customer: Session;
let dashboard: string;

const basic = (email: string, password: string) => `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`;
const get = (path: string, authorization?: string, headers: Record<string, string> = {}) =>
  fetch(new URL(path, dashboard), { redirect: 'manual', headers: { ...(authorization ? { authorization } : {}), ...headers } });

async function newAdmin(password = ADMIN_PASSWORD) {
  const email = `ops${randomBytes(4).toString('hex')}@restaurant.test`;
  const user = await createUser({ email, username: email.split('@')[0]!, password, role: Role.ADMIN });
  return { email, id: user._id.toString() };
}

beforeAll(async () => {
  stack = await startStack({ prefix: 'adminjobs', env: { LOGIN_MAX_ATTEMPTS: '3' } });
  dashboard = new URL('/admin/jobs/', stack.url).href;
  const a = await newAdmin();
  const r = await stack.gql(`mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }`, {
    e: a.email,
    p: ADMIN_PASSWORD,
  });
  admin = { ...a, token: r.data.logIn.token };
  customer = await stack.signUp({ password: CUSTOMER_PASSWORD });
});
afterAll(async () => {
  await stack?.stop();
});

describe('who may open it', () => {
  test.each([
    ['the page', '/admin/jobs/'],
    ['its API', '/admin/jobs/api'],
    ['an asset', '/admin/jobs/index.html'],
  ])('anonymous: 401 with a Basic challenge, for %s', async (_what, path) => {
    const res = await get(path);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="jobs"');
    expect(await res.json()).toEqual({ error: 'Sign in with an admin account (email and password)' });
  });

  test('a wrong password, an unknown email or a malformed header: 401 with the challenge again', async () => {
    for (const authorization of [
      basic(admin.email, 'not the password'),
      basic('nobody@restaurant.test', ADMIN_PASSWORD),
      basic(admin.email, ''),
      'Basic',
      'Digest username="x"',
    ]) {
      const res = await get('/admin/jobs/api', authorization);
      expect([authorization, res.status, res.headers.get('www-authenticate')]).toEqual([authorization, 401, 'Basic realm="jobs"']);
    }
  });

  test('a customer with the right password or a valid token: 403', async () => {
    for (const authorization of [basic(customer.email, CUSTOMER_PASSWORD), `Bearer ${customer.token}`]) {
      const res = await get('/admin/jobs/', authorization);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ error: 'Only admins may open this page' });
    }
  });

  test('a bad or expired token: 401 saying so, in a Bearer challenge', async () => {
    const res = await get('/admin/jobs/api', `Bearer ${admin.token.slice(0, -4)}AAAA`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token", error_description="Invalid token"');
  });

  test('an admin, with email and password (any letter case in the email) or with a token', async () => {
    for (const authorization of [basic(admin.email.toUpperCase(), ADMIN_PASSWORD), `Bearer ${admin.token}`]) {
      const res = await get('/admin/jobs/', authorization);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  test('an admin demoted to customer loses access at once, whatever their token or browser remembers', async () => {
    const ops = await newAdmin();
    const auth = basic(ops.email, ADMIN_PASSWORD);
    expect((await get('/admin/jobs/api', auth)).status).toBe(200);
    await User.updateOne({ _id: ops.id }, { $set: { role: Role.CUSTOMER } });
    expect((await get('/admin/jobs/api', auth)).status).toBe(403);
    await User.deleteOne({ _id: ops.id });
    expect((await get('/admin/jobs/api', auth)).status).toBe(401);
  });

  test('failed sign-ins count against the log-in limit shared with the logIn mutation', async () => {
    const ops = await newAdmin();
    for (let i = 0; i < 3; i++) expect((await get('/admin/jobs/', basic(ops.email, `wrong ${i}`))).status).toBe(401);

    // Past LOGIN_MAX_ATTEMPTS (3): refused even with the right password, with when to come back.
    const limited = await get('/admin/jobs/', basic(ops.email, ADMIN_PASSWORD));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await limited.json()) as any).error).toMatch(/^Too many failed sign-ins; try again in \d+ s$/);

    const logIn = await stack.gql(`mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }`, {
      e: ops.email,
      p: ADMIN_PASSWORD,
    });
    expect(codeOf(logIn)).toBe('TOO_MANY_REQUESTS');
  });
});

describe('what an admin gets', () => {
  test('the bare path redirects to the page, whose assets all come from this server', async () => {
    const auth = basic(admin.email, ADMIN_PASSWORD);
    const bare = await get('/admin/jobs?tab=failed', auth);
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/admin/jobs/?tab=failed');

    const page = await get('/admin/jobs/', auth);
    const html = await page.text();
    expect(html).toContain('<div id="app"></div>');
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'; script-src 'self'/);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const asset of assets) {
      expect(asset).toMatch(/^\.\/assets\//); // relative: from this server, under /admin/jobs/
      const res = await get(new URL(asset, dashboard).pathname, auth);
      expect([asset, res.status]).toEqual([asset, 200]);
      expect(res.headers.get('content-type')).toMatch(/javascript|css/);
    }
  });

  test('its API lists the jobs the product scheduled: a new reservation waits for a worker to email the admin', async () => {
    const reservation = await stack.createReservation(customer.token);
    const res = await get(`/admin/jobs/api?job=${JOB.newReservationAdminNotification}&limit=200`, `Bearer ${admin.token}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    const job = body.jobs.find((j: any) => j.job.data?.reservationId === reservation.id);
    expect(job).toMatchObject({ job: { name: JOB.newReservationAdminNotification, data: { reservationId: reservation.id } }, failed: false });
    expect(job.queued || job.scheduled).toBe(true);
    expect(body.overview[0]).toMatchObject({ displayName: 'All Jobs' });
  });

  test('its status panel counts the jobs of every worker, read from the database', async () => {
    // Two real worker processes, each holding email jobs of its own mid-send: SendGrid (the stub) answers late, and
    // the first worker is frozen (SIGSTOP) before the second starts, so the second's job can only be the second's.
    const stub = await startSendGridStub();
    stub.delayMs = 600_000;
    const env = baseEnv(stack.mongoUri, {
      SENDGRID_API_KEY: stub.apiKey,
      SENDGRID_API_BASE_URL: stub.url,
      COMPLETION_SWEEP_INTERVAL: '1 hour',
      PENDING_EFFECTS_INTERVAL: '1 hour',
    });
    const jobs = mongoose.connection.collection(AGENDA_COLLECTION);
    const emailJobOf = (reservation: { id: string }) =>
      pollUntil(
        () => jobs.findOne({ name: JOB.newReservationAdminNotification, 'data.reservationId': reservation.id }),
        (job) => job?.lockedAt != null && job.lastRunAt != null,
        'a worker to be sending its email',
        30_000,
      );
    // The recurring jobs a worker runs once at its start: finished, so only email jobs stay locked.
    const recurringDone = () =>
      pollUntil(() => jobs.countDocuments({ lockedAt: { $ne: null }, name: { $ne: JOB.newReservationAdminNotification } }), (n) => n === 0, 'the recurring jobs to finish', 30_000);
    const workers: Proc[] = [];
    try {
      workers.push(await startWorkerProcess(env));
      const first = await emailJobOf(await stack.createReservation(customer.token));
      await recurringDone();
      workers[0]!.child.kill('SIGSTOP');
      workers.push(await startWorkerProcess(env));
      const second = await emailJobOf(await stack.createReservation(customer.token));
      await recurringDone();
      const names = workers.map((w) => `${os.hostname()}:${w.child.pid}`);
      expect([first!.lastModifiedBy, second!.lastModifiedBy]).toEqual(names);

      // Every email job in the database is held by one of the two workers: the panel counts exactly those.
      const held = await jobs.find({ name: JOB.newReservationAdminNotification }).toArray();
      expect(held.every((j) => j.lockedAt != null && names.includes(j.lastModifiedBy))).toBe(true);
      const res = await get('/admin/jobs/api/stats', `Bearer ${admin.token}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        queueName: 'all workers',
        version: expect.stringMatching(/^6\./),
        backend: { name: 'MongoDB', hasNotificationChannel: false },
        runningJobs: held.length,
        lockedJobs: held.length,
        queuedJobs: 0,
      });
      const details = (await (await get('/admin/jobs/api/stats?fullDetails=true', `Bearer ${admin.token}`)).json()) as any;
      const shown = details.runningJobs.map((j: any) => [String(j._id), j.lastModifiedBy]).sort();
      expect(shown).toEqual(held.map((j) => [String(j._id), j.lastModifiedBy]).sort());
      expect(shown).toEqual(expect.arrayContaining([[String(first!._id), names[0]], [String(second!._id), names[1]]]));
    } finally {
      await Promise.all(workers.map((w) => stopProcess(w, 'SIGKILL')));
      await stub.close();
    }
  }, 120_000);

  test('writes work as same-origin JSON, and are refused as a form post or from another site', async () => {
    const reservation = await stack.createReservation(customer.token);
    await effectsHandedOver(); // its job is scheduled just after the answer
    const job = await mongoose.connection.collection(AGENDA_COLLECTION).findOne({ 'data.reservationId': reservation.id });
    const auth = basic(admin.email, ADMIN_PASSWORD);
    const post = (headers: Record<string, string>, body: string) =>
      fetch(new URL('/admin/jobs/api/jobs/pause', stack.url), { method: 'POST', headers: { authorization: auth, ...headers }, body });
    const json = JSON.stringify({ jobIds: [job!._id.toString()] });

    const forms = await post({ 'content-type': 'application/x-www-form-urlencoded' }, `jobIds=${job!._id}`);
    const crossSite = await post({ 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' }, json);
    const otherOrigin = await post({ 'content-type': 'application/json', origin: 'https://evil.example' }, json);
    for (const res of [forms, crossSite, otherOrigin]) {
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ error: 'Dashboard changes must be same-origin JSON requests' });
    }
    expect((await mongoose.connection.collection(AGENDA_COLLECTION).findOne({ _id: job!._id }))!.disabled).not.toBe(true);

    const sameOrigin = await post({ 'content-type': 'application/json', origin: new URL(stack.url).origin, 'sec-fetch-site': 'same-origin' }, json);
    expect(sameOrigin.status).toBe(200);
    expect(await sameOrigin.json()).toEqual({ pausedCount: 1 });
    expect((await mongoose.connection.collection(AGENDA_COLLECTION).findOne({ _id: job!._id }))!.disabled).toBe(true);
  });

  test('in a browser cut off from every other host, an admin signs in and sees the jobs, live, with no console error', async () => {
    const [reservation] = await Promise.all([stack.createReservation(customer.token), stack.createReservation(customer.token)]);
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ httpCredentials: { username: admin.email, password: ADMIN_PASSWORD } });
      const blocked: string[] = [];
      const problems: string[] = [];
      await context.route('**/*', (route) => {
        const url = new URL(route.request().url());
        if (url.hostname === '127.0.0.1' || url.hostname === 'localhost') return route.continue();
        blocked.push(url.href);
        return route.abort('blockedbyclient');
      });
      context.on('weberror', (err) => problems.push(`page error: ${err.error().message}`));
      // Any error in the console, "SSE connection error" from the live feed included.
      context.on('console', (msg) => {
        if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console: ${msg.text()}`);
      });
      const page = await context.newPage();
      await page.goto(new URL('/admin/jobs', stack.url).href);
      expect(page.url()).toBe(dashboard);
      const rows = page.locator('tbody tr', { hasText: JOB.newReservationAdminNotification });
      await rows.first().waitFor();
      expect(await rows.count()).toBeGreaterThanOrEqual(2);
      // The live feed is connected: the page shows its "Live" mark.
      await page.locator('[title="Real-time updates active"]', { hasText: 'Live' }).waitFor();

      // Each job's data opens from its row: the reservation the email is about.
      const shown: string[] = [];
      for (let i = 0; i < (await rows.count()) && !shown.some((t) => t.includes(reservation!.id)); i++) {
        await rows.nth(i).locator('[title="Job Data"]').click();
        const dialog = page.locator('.modal-container', { hasText: 'Job Data' });
        await dialog.waitFor();
        shown.push(await dialog.innerText());
        await dialog.getByRole('button', { name: 'Close' }).click();
        await dialog.waitFor({ state: 'hidden' });
      }
      expect(shown.join('\n')).toContain(`"reservationId": "${reservation!.id}"`);
      expect(blocked).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
