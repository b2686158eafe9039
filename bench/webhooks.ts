// `webhooks`: the real API server and one real worker process (default settings: JOB_POLL_INTERVAL 500 ms; no email
// group) deliver
// to a local receiver that verifies every request with the `standardwebhooks` library
// (test/support/webhook-receiver.ts), as a customer's system would.
//
//   latency:  an admin confirms reservations one after another; from each confirmation's response to the receiver
//             holding that change's verified delivery (matched by the event id in the payload). Goal: p95 < 2 s.
//   volume:   N confirmed, overdue reservations completed by one run of the sweep, one endpoint subscribed to
//             `reservation.completed`: N deliveries, their rate (first to last verified arrival), and the worker's
//             resident memory before, once a tenth has arrived, and at the end: flat from the tenth to the end shows
//             it does not grow with N (--webhook-deliveries N; default 300 to keep the run short, --large 10,000).
import { readFile } from 'node:fs/promises';
import { MongoClient } from 'mongodb';
import { Types } from 'mongoose';
import type { Benchmark, BenchContext } from './support/harness.js';
import { dropDatabase, median, percentile, serviceEnv, sig } from './support/harness.js';
import { insertConfirmed } from '../test/support/fixtures.js';
import { createAdmin, gqlData, signUp } from '../test/support/graphql.js';
import { pollUntil } from '../test/support/poll.js';
import { startApiProcess, startWorkerProcess, stopProcess, type Proc } from '../test/support/processes.js';
import { startWebhookReceiver, type WebhookReceiver } from '../test/support/webhook-receiver.js';
import { subscribe } from '../test/support/webhooks.js';

const CREATE = `mutation($input: CreateReservationInput!) { createReservation(input: $input) { id } }`;
const CONFIRM = `mutation($id: ID!) { confirmReservation(id: $id) { id history { id } } }`;
const EVENTS = `mutation($id: ID!, $events: [WebhookEventType!]) { updateWebhookEndpoint(id: $id, input: { events: $events }) { id } }`;

/** The worker's V8 old-space cap during the run, MB (its heap holds about 45 MB after start-up, measured with --trace-gc). */
const HEAP_CAP_MB = 160;

/** The worker's resident set, in MB (Linux: /proc; elsewhere NaN). */
async function rssMb(p: Proc): Promise<number> {
  try {
    const status = await readFile(`/proc/${p.child.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
  } catch {
    return Number.NaN;
  }
}

export const webhooks: Benchmark = {
  name: 'webhooks',
  async run(ctx) {
    const { smoke, large } = ctx.options;
    const confirmations = smoke ? 10 : 100;
    const warmup = smoke ? 3 : 10;
    const volume = ctx.options.webhookDeliveries ?? (smoke ? 50 : large ? 10_000 : 300);
    const receiver = await startWebhookReceiver();
    const uri = ctx.freshDatabaseUri('webhooks');
    const env = serviceEnv(uri, {
      WEBHOOK_ALLOW_PRIVATE_URLS: 'true', // the receiver is on 127.0.0.1
      WEBHOOK_ENCRYPTION_KEY: 'bench-webhook-encryption-key-0123456789',
      COMPLETION_SWEEP_INTERVAL: '2 seconds',
    });
    // The worker runs every group but email: there is no SendGrid here, and email jobs failing and retrying against
    // a closed port would load the database the deliveries are measured on (task routing, WORKER_JOBS).
    // Its V8 heap capped (HEAP_CAP_MB): a worker whose memory grew with the deliveries would run out and die, and
    // the run fail, however lazily the garbage collector gives memory back (resident memory alone shows that too).
    const workerEnv = { ...env, WORKER_JOBS: 'completion,webhooks,maintenance', NODE_OPTIONS: `--max-old-space-size=${HEAP_CAP_MB}` };
    let api: (Proc & { url: string }) | undefined;
    let worker: Proc | undefined;
    try {
      api = await startApiProcess(env);
      worker = await startWorkerProcess(workerEnv);
      const admin = await createAdmin(api.url, { mongoUri: uri });
      const customer = await signUp(api.url);
      const endpointId = await subscribe(api.url, admin.token, receiver, ['RESERVATION_CONFIRMED']);

      const latencies = await latency(ctx, api.url, admin.token, customer.token, receiver, warmup, confirmations);
      const params = { confirmations, warmupConfirmations: warmup, workers: 1, jobPollInterval: '500 ms (default)' };
      ctx.record({ benchmark: 'webhooks', variant: 'project', metric: 'p50_ms', value: sig(percentile(latencies, 50)), params });
      ctx.record({ benchmark: 'webhooks', variant: 'project', metric: 'p95_ms', value: sig(percentile(latencies, 95)), params });
      ctx.goal({ benchmark: 'webhooks', variant: 'project', metric: 'p95_ms', goal: '< 2,000 ms', below: 2000 });
      ctx.log(`webhooks: change → verified delivery p50 ${percentile(latencies, 50)} ms, p95 ${percentile(latencies, 95)} ms, median ${median(latencies)} ms`);

      await gqlData(api.url, EVENTS, { id: endpointId, events: ['RESERVATION_COMPLETED'] }, admin.token);
      const rssBefore = await rssMb(worker);
      const client = await MongoClient.connect(uri);
      try {
        const past = Date.now() - 3 * 3_600_000;
        await insertConfirmed(volume, (i) => new Date(past - i * 1000), new Types.ObjectId(), client.db().collection('reservations'));
      } finally {
        await client.close();
      }
      const completed = () => receiver.received.filter((w) => w.payload.type === 'reservation.completed');
      // Resident memory once a tenth has been delivered (past the warm-up of the code paths) and at the end: flat
      // between the two means the worker's memory does not grow with the number of deliveries.
      const tenth = await pollUntil(async () => completed().length, (n) => n >= volume / 10, `${volume / 10} completion webhooks`, 30 * 60_000, 100);
      const rssAtTenth = await rssMb(worker);
      const done = await pollUntil(async () => completed(), (w) => w.length >= volume, `${volume} completion webhooks`, 30 * 60_000, 250);
      const rssAfter = await rssMb(worker);
      const spanS = (done.at(-1)!.receivedAt.getTime() - done[0]!.receivedAt.getTime()) / 1000;
      const duplicates = done.length - new Set(done.map((w) => w.webhookId)).size;
      const volumeParams = { deliveries: volume, workers: 1, endpoints: 1, duplicates, rejected: receiver.rejected.length, workerHeapCapMb: HEAP_CAP_MB, workerExitCode: worker.child.exitCode };
      if (worker.child.exitCode !== null) throw new Error(`the worker exited (code ${worker.child.exitCode}) during the deliveries`);
      ctx.record({ benchmark: 'webhooks', variant: 'project', metric: 'deliveries_per_s', value: sig(volume / Math.max(spanS, 0.001)), params: volumeParams });
      ctx.record({ benchmark: 'webhooks', variant: 'project', metric: 'worker_rss_before_mb', value: sig(rssBefore), params: volumeParams });
      ctx.record({ benchmark: 'webhooks', variant: 'project', metric: 'worker_rss_at_10pct_mb', value: sig(rssAtTenth), params: { ...volumeParams, deliveredThen: tenth } });
      ctx.record({ benchmark: 'webhooks', variant: 'project', metric: 'worker_rss_after_mb', value: sig(rssAfter), params: volumeParams });
      ctx.log(
        `webhooks: ${volume} deliveries in ${spanS.toFixed(1)} s; worker RSS ${rssBefore.toFixed(0)} MB before, ${rssAtTenth.toFixed(0)} MB at ${tenth}, ${rssAfter.toFixed(0)} MB after; ${duplicates} duplicates`,
      );
    } finally {
      await stopProcess(worker);
      await stopProcess(api);
      await receiver.close();
      await dropDatabase(uri);
    }
  },
};

/** Confirms reservations one by one; each change's latency to its verified delivery, in ms (after a warm-up). */
async function latency(ctx: BenchContext, url: string, adminToken: string, customerToken: string, receiver: WebhookReceiver, warmup: number, n: number): Promise<number[]> {
  const startTime = new Date(Date.now() + 2 * 86_400_000).toISOString();
  const round = async (count: number) => {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push((await gqlData(url, CREATE, { input: { startTime, partySize: 2 } }, customerToken)).createReservation.id);
    const answeredAt = new Map<string, number>();
    for (const id of ids) {
      const r = await gqlData(url, CONFIRM, { id }, adminToken);
      answeredAt.set(r.confirmReservation.history.at(-1).id, Date.now());
    }
    const arrived = await pollUntil(
      async () => receiver.received.filter((w) => answeredAt.has(w.payload.data.event.id)),
      (w) => w.length >= count,
      `${count} confirmation webhooks`,
      120_000,
      20,
    );
    return arrived.map((w) => w.receivedAt.getTime() - answeredAt.get(w.payload.data.event.id)!);
  };
  await round(warmup);
  const started = Date.now();
  const latencies = await round(n);
  ctx.log(`webhooks: ${n} confirmations delivered in ${Date.now() - started} ms`);
  return latencies;
}
