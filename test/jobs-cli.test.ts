// `npm run jobs -- <command>` (the seed's `celery inspect` / `events`) as an operator runs it, against jobs the
// product made: emails waiting for a worker, a completion scheduled for later, emails SendGrid refused, one being
// sent right now.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mongoose, { Types } from 'mongoose';
import { AGENDA_COLLECTION } from '../src/jobs/agenda.js';
import { JOB } from '../src/jobs/names.js';
import { pollUntil } from './support/poll.js';
import { runCli, startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { startSendGridStub, type SendGridStub } from './support/sendgrid-stub.js';
import { baseEnv, startStack, type Session, type TestStack } from './support/stack.js';

let stub: SendGridStub;
let stack: TestStack;
let worker: Proc | undefined;
let env: Record<string, string>;
let reservation: { id: string; reference: string };
/** The jobs confirming `reservation` made, by name. */
let ids: { adminEmail: string; statusEmail: string; completion: string };

const jobs = () => mongoose.connection.collection(AGENDA_COLLECTION);
const jobsCli = (...args: string[]) => runCli('cli/jobs.js', env, args);
async function jobsJson(...args: string[]) {
  const r = await jobsCli(...args, '--json');
  expect(r.code).toBe(0);
  return JSON.parse(r.output);
}

beforeAll(async () => {
  stub = await startSendGridStub();
  const common = {
    SENDGRID_API_KEY: stub.apiKey,
    SENDGRID_API_BASE_URL: stub.url,
    EMAIL_MAX_ATTEMPTS: '1',
    COMPLETION_SWEEP_INTERVAL: '1 hour',
  };
  stack = await startStack({ prefix: 'jobscli', env: common });
  env = baseEnv(stack.mongoUri, common);

  // No worker yet: a confirmed reservation leaves its two emails due and its completion scheduled.
  const [customer, admin]: Session[] = await Promise.all([stack.signUp(), stack.admin()]);
  reservation = await stack.createReservation(customer.token);
  const confirmed = await stack.gql(`mutation($id: ID!) { confirmReservation(id: $id) { status } }`, { id: reservation.id }, admin.token);
  expect(confirmed.errors).toBeUndefined();
  const byName = async (name: string) =>
    (await pollUntil(() => jobs().findOne({ name, 'data.reservationId': reservation.id }), Boolean, `the ${name} job`))!._id.toString();
  ids = {
    adminEmail: await byName(JOB.newReservationAdminNotification),
    statusEmail: await byName(JOB.reservationStatusEmail),
    completion: await byName(JOB.completeReservation),
  };
});
afterAll(async () => {
  await stopProcess(worker);
  await stack?.stop();
  await stub?.close();
});

describe('with no worker running', () => {
  test('list: due emails and the scheduled completion, with their reservation, soonest first', async () => {
    const [{ jobs: listed, total }, text] = await Promise.all([jobsJson('list'), jobsCli('list')]);
    expect(total).toBe(3);
    expect(listed.map((j: any) => [j.id, j.name, j.state, j.reservationId, j.lockedAt])).toEqual([
      [ids.adminEmail, JOB.newReservationAdminNotification, 'queued', reservation.id, null],
      [ids.statusEmail, JOB.reservationStatusEmail, 'queued', reservation.id, null],
      [ids.completion, JOB.completeReservation, 'scheduled', reservation.id, null],
    ]);
    const completion = listed[2];
    expect(new Date(completion.nextRunAt).getTime()).toBeGreaterThan(Date.now() + 30 * 60_000);

    expect(text.code).toBe(0);
    const [header, ...rows] = text.output.split('\n');
    expect(header).toMatch(/^ID +NAME +STATE +NEXT RUN +LOCK +RESERVATION$/);
    expect(rows).toHaveLength(3);
    expect(rows[2]).toMatch(new RegExp(`^${ids.completion} +${JOB.completeReservation} +scheduled +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ \\(in 1h3\\dm\\) +- +${reservation.id}$`));
  });

  test('stats: counts per job name and state', async () => {
    const [stats, human] = await Promise.all([jobsJson('stats'), jobsCli('stats')]);
    const row = (name: string) => stats.jobs.find((r: any) => r.name === name);
    expect(row(JOB.newReservationAdminNotification)).toMatchObject({ queued: 1, scheduled: 0, running: 0, failed: 0, total: 1 });
    expect(row(JOB.completeReservation)).toMatchObject({ scheduled: 1, queued: 0, total: 1 });
    expect(stats.totals).toMatchObject({ queued: 2, scheduled: 1, running: 0, completed: 0, failed: 0, total: 3 });

    const text = human.output.split('\n');
    expect(text[0]).toMatch(/^NAME +SCHEDULED +QUEUED +RUNNING +REPEATING +COMPLETED +FAILED +PAUSED +TOTAL$/);
    expect(text.at(-1)).toMatch(/^all jobs +1 +2 +0 +0 +0 +0 +0 +3$/);
  });

  test('failed: none yet', async () => {
    const [json, text] = await Promise.all([jobsJson('failed'), jobsCli('failed')]);
    expect(json).toEqual({ jobs: [], total: 0 });
    expect(text.output).toBe('No failed jobs.');
  });
});

describe('with a worker, and SendGrid refusing the emails', () => {
  beforeAll(async () => {
    stub.failNext(2, 400, 'The from address does not match a verified Sender Identity.');
    worker = await startWorkerProcess(env);
    await pollUntil(() => jobs().countDocuments({ failedAt: { $ne: null } }), (n) => n === 2, 'both emails to fail');
  });

  test('failed: both emails, why, how often, when, and that no retry is coming', async () => {
    const [{ jobs: failed, total }, human] = await Promise.all([jobsJson('failed'), jobsCli('failed')]);
    expect(total).toBe(2);
    expect(failed.map((j: any) => j.id).sort()).toEqual([ids.adminEmail, ids.statusEmail].sort());
    for (const j of failed) {
      expect(j).toMatchObject({
        state: 'failed',
        reservationId: reservation.id,
        failCount: 1,
        nextRunAt: null,
        failReason: expect.stringContaining('HTTP 400: The from address does not match a verified Sender Identity.'),
      });
      expect(Date.now() - new Date(j.failedAt).getTime()).toBeLessThan(60_000);
    }
    const text = human.output.split('\n');
    expect(text[0]).toMatch(/^ID +NAME +RESERVATION +FAILS +LAST FAILED +RETRY +REASON$/);
    expect(text.find((l) => l.startsWith(ids.statusEmail))).toMatch(/ 1 +\S+ \S+Z \((?:now|\d+s ago)\) +no \(gave up\) +SendGrid rejected the email: HTTP 400/);
    expect(text.at(-1)).toBe('Run one again: npm run jobs -- retry <ID>');
  });

  test('retry: the job runs again now, its failure cleared; while it runs, list shows which worker holds it', async () => {
    stub.delayMs = 5_000; // SendGrid is slow to answer: the email stays in flight while the CLI looks
    const retried = await jobsCli('retry', ids.adminEmail);
    expect(retried.code).toBe(0);
    expect(retried.output).toMatch(
      new RegExp(`^Re-queued ${JOB.newReservationAdminNotification} job ${ids.adminEmail} \\(reservation ${reservation.id}\\) to run now; its failure is cleared \\(was 1 failure, last: SendGrid rejected`),
    );
    await pollUntil(() => jobs().findOne({ _id: new Types.ObjectId(ids.adminEmail) }), (j) => Boolean(j?.lockedAt), 'a worker to take the job');

    const [{ jobs: running }, { totals }] = await Promise.all([jobsJson('list', '--name', JOB.newReservationAdminNotification), jobsJson('stats')]);
    expect(running).toEqual([
      expect.objectContaining({ id: ids.adminEmail, state: 'running', failCount: 0, failedAt: null, lockedBy: expect.stringMatching(/:\d+$/) }),
    ]);
    expect(totals).toMatchObject({ running: 1, failed: 1 });

    const sent = await stub.waitFor(1, 10_000);
    stub.delayMs = 0;
    expect(sent[0]!.subject).toBe(`🔔 New Reservation #${reservation.reference} - Action Required`);
    // Sent: the job is done (email jobs are removed once they succeed), and only the other failure is left.
    await pollUntil(() => jobs().countDocuments({ _id: new Types.ObjectId(ids.adminEmail) }), (n) => n === 0, 'the job to finish');
    expect((await jobsJson('failed')).jobs.map((j: any) => j.id)).toEqual([ids.statusEmail]);
  });

  test('retry refuses, with a reason and exit code 1, a malformed id, an unknown one, and a job that has not failed', async () => {
    const cases: [string, RegExp][] = [
      ['not-an-id', /^jobs: "not-an-id" is not a job id \(24 hexadecimal characters\)$/],
      [new Types.ObjectId().toString(), /^jobs: no job with id [0-9a-f]{24}$/],
      [ids.completion, new RegExp(`^jobs: job ${ids.completion} \\(${JOB.completeReservation}\\) is scheduled, not failed; only failed jobs are retried$`)],
    ];
    const results = await Promise.all(cases.map(([id]) => jobsCli('retry', id)));
    results.forEach((r, i) => expect([r.code, r.output]).toEqual([1, expect.stringMatching(cases[i]![1])]));
    const untouched = await jobs().findOne({ _id: new Types.ObjectId(ids.completion) });
    expect([untouched!.failedAt ?? null, untouched!.lastModifiedBy ?? null]).toEqual([null, null]);
  });

  test('list shows the recurring jobs the worker registered', async () => {
    const { jobs: listed } = await jobsJson('list');
    const recurring = listed.filter((j: any) => j.repeatInterval !== null).map((j: any) => [j.name, j.repeatInterval]);
    expect(recurring).toEqual(expect.arrayContaining([[JOB.checkOverdueReservations, '1 hour']]));
  });
});

describe('usage', () => {
  test('a bad command or missing argument prints the usage and exits 2; --help exits 0', async () => {
    const [none, unknown, noId, badLimit, help] = await Promise.all([
      jobsCli(),
      jobsCli('inspect'),
      jobsCli('retry'),
      jobsCli('list', '--limit', '0'),
      jobsCli('--help'),
    ]);
    expect([none.code, none.output]).toEqual([2, expect.stringMatching(/^jobs: a command is required\nusage: npm run jobs -- <command>/)]);
    expect([unknown.code, unknown.output]).toEqual([2, expect.stringMatching(/^jobs: unknown command "inspect"/)]);
    expect([noId.code, noId.output]).toEqual([2, expect.stringMatching(/^jobs: retry takes exactly one job id/)]);
    expect([badLimit.code, badLimit.output]).toEqual([2, expect.stringMatching(/^jobs: --limit must be a positive whole number/)]);
    expect([help.code, help.output]).toEqual([0, expect.stringMatching(/^usage: npm run jobs -- <command> \[options\]/)]);
  });

  test('without MONGODB_URI it reads the database of a running `npm start`', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'jobs-cli-'));
    try {
      // What `npm start` publishes in its data folder while it runs (this process stands in for it).
      await writeFile(path.join(dataDir, 'embedded.json'), JSON.stringify({ uri: stack.mongoUri, pid: process.pid }));
      const { MONGODB_URI: _, ...rest } = env;
      const r = await runCli('cli/jobs.js', { ...rest, DATA_DIR: dataDir }, ['stats', '--json']);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.output).jobs.map((j: any) => j.name)).toContain(JOB.completeReservation);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
