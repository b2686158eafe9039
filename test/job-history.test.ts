// The job dashboard tells the truth: its live feed (Agendash's GET /admin/jobs/api/events) reports the runs of
// every worker as they happen, and finished jobs (sent emails) stay visible for JOB_HISTORY_RETENTION, after which
// the worker's purge-job-history removes them; failed and recurring jobs stay.
import mongoose from 'mongoose';
import { AGENDA_COLLECTION, jobIdFor } from '../src/jobs/agenda.js';
import { JOB } from '../src/jobs/names.js';
import { startWorkerProcess, stopProcess, type Proc } from './support/processes.js';
import { pollUntil } from './support/poll.js';
import { startSendGridStub, type SendGridStub } from './support/sendgrid-stub.js';
import { baseEnv, startStack, type Session, type TestStack } from './support/stack.js';
import { recurringJob } from './support/worker.js';

let stack: TestStack;
let stub: SendGridStub;
let admin: Session;
let customer: Session;
const workers: Proc[] = [];

beforeAll(async () => {
  stack = await startStack({ prefix: 'jobhistory' });
  stub = await startSendGridStub();
  admin = await stack.admin();
  customer = await stack.signUp();
});
afterAll(async () => {
  await Promise.all(workers.map((w) => stopProcess(w, 'SIGKILL')));
  await stub?.close();
  await stack?.stop();
});

const jobs = () => mongoose.connection.collection(AGENDA_COLLECTION);

const workerEnv = (extra: Record<string, string>) =>
  baseEnv(stack.mongoUri, {
    SENDGRID_API_KEY: stub.apiKey,
    SENDGRID_API_BASE_URL: stub.url,
    COMPLETION_SWEEP_INTERVAL: '1 hour',
    PENDING_EFFECTS_INTERVAL: '1 hour',
    EMAIL_RETRY_DELAY: '1 second',
    ...extra,
  });

/** Agendash's event stream, as its page reads it: named events and `data:` messages, parsed. */
async function openEventStream() {
  const abort = new AbortController();
  const res = await fetch(new URL('/admin/jobs/api/events', stack.url), {
    headers: { authorization: `Bearer ${admin.token}`, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  const events: { event: string; data: any }[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(
          block
            .split('\n')
            .filter((l) => !l.startsWith(':'))
            .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trimStart()]),
        );
        if (fields.data !== undefined) events.push({ event: fields.event ?? 'message', data: JSON.parse(fields.data) });
      }
    }
  })();
  return { res, events, close: () => abort.abort() };
}

test('the live feed streams each job run of any worker: start, success or failure, complete', async () => {
  const stream = await openEventStream();
  try {
    expect(stream.res.status).toBe(200);
    expect(stream.res.headers.get('content-type')).toBe('text/event-stream');
    await pollUntil(async () => stream.events.length, (n) => n > 0, 'the connected event');
    expect(stream.events[0]).toEqual({ event: 'connected', data: { connected: true } });

    // One email SendGrid refuses for good (400: not retried), one it accepts.
    stub.failNext(1, 400, 'The from address does not match a verified Sender Identity');
    const refused = await stack.createReservation(customer.token);
    workers.push(await startWorkerProcess(workerEnv({})));
    // A sent email's job is replaced by its finished copy; a failed one stays.
    const finishedCopyOf = (r: { history: { id: string }[] }) => String(jobIdFor(`finished:${jobIdFor(`email:${r.history[0]!.id}`)}`));
    const jobOf = (r: { history: { id: string }[] }) => String(jobIdFor(`email:${r.history[0]!.id}`));
    await pollUntil(() => jobs().findOne({ _id: jobIdFor(`email:${refused.history[0].id}`) }), (j) => j?.failedAt != null, 'the refused email', 30_000);
    const sent = await stack.createReservation(customer.token);

    const runOf = (jobId: string) =>
      pollUntil(
        async () => stream.events.filter((e) => e.event === 'message' && e.data.jobId === jobId).map((e) => e.data),
        (seen) => seen.some((n) => n.type === 'complete'),
        `the feed to report job ${jobId} complete`,
        30_000,
      );
    const ok = await runOf(finishedCopyOf(sent));
    expect(ok.map((n) => n.type)).toEqual(['start', 'success', 'complete']);
    expect(ok[2]).toMatchObject({ jobName: JOB.newReservationAdminNotification, duration: expect.any(Number) });
    const failed = await runOf(jobOf(refused));
    expect(failed.map((n) => n.type)).toEqual(['start', 'fail', 'complete']);
    expect(failed[1]).toMatchObject({ jobName: JOB.newReservationAdminNotification, failCount: 1, error: expect.stringContaining('400') });
  } finally {
    stream.close();
  }
}, 90_000);

test('a sent email stays in the dashboard while younger than JOB_HISTORY_RETENTION; then only it is removed', async () => {
  // The worker of the test above sent one email and left one failed, with the default retention (7 days) and its
  // purge every JOB_HISTORY_PURGE_INTERVAL (1 hour): restarted purging every second.
  await Promise.all(workers.splice(0).map((w) => stopProcess(w)));
  const reservation = await stack.createReservation(customer.token);
  const emailJob = jobIdFor(`finished:${jobIdFor(`email:${reservation.history[0].id}`)}`);
  workers.push(await startWorkerProcess(workerEnv({ JOB_HISTORY_PURGE_INTERVAL: '1 second' })));
  const finished = await pollUntil(() => jobs().findOne({ _id: emailJob }), (j) => j?.lastFinishedAt != null && j.lockedAt == null, 'the email to be sent', 30_000);
  // A purge ran after the email was sent, and kept it.
  await pollUntil(
    () => recurringJob(JOB.purgeJobHistory),
    (j) => j?.data?.resultAt != null && j.data.resultAt > finished!.lastFinishedAt,
    'a purge after the email',
    30_000,
  );
  expect((await recurringJob(JOB.purgeJobHistory))!.data.result).toMatch(/^Removed 0 jobs finished before /);
  const listed = await fetch(new URL(`/admin/jobs/api?job=${JOB.newReservationAdminNotification}&limit=200`, stack.url), {
    headers: { authorization: `Bearer ${admin.token}` },
  });
  const shown = ((await listed.json()) as any).jobs.find((j: any) => j.job._id === String(emailJob));
  expect(shown).toMatchObject({ completed: true, failed: false, job: { data: { reservationId: reservation.id } } });

  // A worker with a one-second retention: the sent emails go; the failed one and the recurring jobs stay.
  await Promise.all(workers.splice(0).map((w) => stopProcess(w)));
  const before = await jobs().find({ name: JOB.newReservationAdminNotification }).toArray();
  expect(before.map((j) => (j.failedAt ? 'failed' : 'sent')).sort()).toEqual(['failed', 'sent', 'sent']);
  workers.push(await startWorkerProcess(workerEnv({ JOB_HISTORY_PURGE_INTERVAL: '1 second', JOB_HISTORY_RETENTION: '1 second' })));
  const left = await pollUntil(
    () => jobs().find({ name: JOB.newReservationAdminNotification }).toArray(),
    (found) => found.length === 1,
    'the sent emails to be removed',
    30_000,
  );
  expect(left[0]).toMatchObject({ failReason: expect.stringContaining('400'), nextRunAt: null });
  for (const name of [JOB.purgeJobHistory, JOB.checkOverdueReservations, JOB.dispatchPendingEffects]) {
    expect(await recurringJob(name)).toMatchObject({ name });
  }
}, 120_000);
