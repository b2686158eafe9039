// `email-latency`: an admin confirms 100 reservations over HTTP, one after another, against the real API server
// process; one real worker process (`dist/src/worker.js`, default settings) sends the emails to a local SendGrid
// stand-in (test/support/sendgrid-stub.ts, SendGrid's `POST /v3/mail/send`). Measured: from each confirmation's
// response to the stub accepting that email (matched by its idempotency key, the status event's id).
import type { BenchContext, Benchmark } from './support/harness.js';
import { dropDatabase, median, percentile, serviceEnv, sig } from './support/harness.js';
import { createAdmin, gqlData, signUp } from '../test/support/graphql.js';
import { pollUntil } from '../test/support/poll.js';
import { startApiProcess, startWorkerProcess, stopProcess, type Proc } from '../test/support/processes.js';
import { startSendGridStub, type SendGridStub } from '../test/support/sendgrid-stub.js';

const CREATE = `mutation($input: CreateReservationInput!) { createReservation(input: $input) { id } }`;
const CONFIRM = `mutation($id: ID!) { confirmReservation(id: $id) { id history { id } } }`;
const CONFIRMED_SUBJECT = 'Your Reservation is Confirmed!';

export const emailLatency: Benchmark = {
  name: 'email-latency',
  async run(ctx) {
    const confirmations = ctx.options.smoke ? 10 : 100;
    const repetitions = ctx.options.smoke ? 1 : 3;
    const warmup = ctx.options.smoke ? 3 : 10;
    const stub = await startSendGridStub();
    try {
      const p50s: number[] = [];
      const p95s: number[] = [];
      for (let rep = 0; rep < repetitions; rep++) {
        // Each repetition from the same start: a fresh database, API server and worker (on FerretDB every query
        // scans its collection, so the data earlier repetitions leave would slow the later ones).
        stub.reset();
        const latencies = await repetition(ctx, stub, confirmations, warmup);
        p50s.push(percentile(latencies, 50));
        p95s.push(percentile(latencies, 95));
        ctx.log(`email-latency #${rep + 1}: p50 ${p50s.at(-1)} ms, p95 ${p95s.at(-1)} ms, max ${Math.max(...latencies)} ms`);
      }
      const params = { confirmations, repetitions, warmupConfirmations: warmup, workers: 1, jobPollInterval: '500 ms (default)', p95sMs: p95s };
      ctx.record({ benchmark: 'email-latency', variant: 'project', metric: 'p50_ms', value: sig(median(p50s)), params });
      ctx.record({ benchmark: 'email-latency', variant: 'project', metric: 'p95_ms', value: sig(median(p95s)), params });
      ctx.goal({ benchmark: 'email-latency', variant: 'project', metric: 'p95_ms', goal: '< 2,000 ms', below: 2000 });
    } finally {
      await stub.close();
    }
  },
};

/** One repetition: each confirmation's latency in ms, after a warm-up. */
async function repetition(ctx: BenchContext, stub: SendGridStub, confirmations: number, warmup: number): Promise<number[]> {
  const uri = ctx.freshDatabaseUri('emaillatency');
  const env = serviceEnv(uri, { SENDGRID_API_KEY: stub.apiKey, SENDGRID_API_BASE_URL: stub.url });
  let api: (Proc & { url: string }) | undefined;
  let worker: Proc | undefined;
  try {
    api = await startApiProcess(env);
    worker = await startWorkerProcess(env);
    const url = api.url;
    const admin = await createAdmin(url, { mongoUri: uri });
    const customer = await signUp(url, { firstName: 'Bench', lastName: 'Guest' });
    const startTime = new Date(Date.now() + 2 * 86_400_000).toISOString();

    /** Creates `n` reservations and waits until the worker has sent their admin emails: an idle worker. */
    const prepare = async (n: number) => {
      const expected = stub.messages.length + n;
      const ids: string[] = [];
      for (let i = 0; i < n; i++) ids.push((await gqlData(url, CREATE, { input: { startTime, partySize: 2 } }, customer.token)).createReservation.id);
      await pollUntil(async () => stub.messages.length, (m) => m >= expected, `${n} admin emails`, 120_000, 50);
      return ids;
    };
    /** Confirms each, one after another; resolves with each email's latency once all have arrived. */
    const confirmAll = async (ids: string[]) => {
      const answeredAt = new Map<string, number>();
      for (const id of ids) {
        const r = await gqlData(url, CONFIRM, { id }, admin.token);
        answeredAt.set(r.confirmReservation.history.at(-1).id, Date.now());
      }
      const arrived = () => stub.messages.filter((m) => m.subject === CONFIRMED_SUBJECT && answeredAt.has(m.customArgs.idempotency_key ?? ''));
      const mails = await pollUntil(async () => arrived(), (m) => m.length >= ids.length, `${ids.length} confirmation emails`, 120_000, 20);
      return mails.map((m) => m.receivedAt.getTime() - answeredAt.get(m.customArgs.idempotency_key!)!);
    };

    await confirmAll(await prepare(warmup));
    const ids = await prepare(confirmations);
    const started = Date.now();
    const latencies = await confirmAll(ids);
    ctx.log(`email-latency: ${confirmations} confirmed and their emails delivered in ${Date.now() - started} ms`);
    return latencies;
  } finally {
    await stopProcess(worker);
    await stopProcess(api);
    await dropDatabase(uri);
  }
}
