// `email-latency`: an admin confirms 100 reservations over HTTP against the real API server process; one real
// worker process (`dist/src/worker.js`, default settings) sends the emails to a local SendGrid stand-in
// (test/support/sendgrid-stub.ts, SendGrid's `POST /v3/mail/send`). Measured: from each confirmation's response to
// the stub accepting that email (matched by its idempotency key, the status event's id).
//
//   project: the confirmations at a stated rate (PACED_PER_S, one every 200 ms), below what one worker sends per
//            second: the latency of an email, not the length of a queue. Goal: p95 < 2 s.
//   burst:   the same confirmations back to back, as fast as the API answers them (about 40 ms each on FerretDB):
//            they arrive faster than one worker sends on FerretDB, so this measures the worker's throughput
//            (emails per second) and the queue a burst builds, and is no latency goal's.
import { setTimeout as sleep } from 'node:timers/promises';
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
    const paced = { everyMs: 1000 / PACED_PER_S };
    const warmup = ctx.options.smoke ? 3 : 10;
    const stub = await startSendGridStub();
    try {
      const p50s: number[] = [];
      const p95s: number[] = [];
      for (let rep = 0; rep < repetitions; rep++) {
        // Each repetition from the same start: a fresh database, API server and worker (on FerretDB every query
        // scans its collection, so the data earlier repetitions leave would slow the later ones).
        stub.reset();
        const { latencies } = await repetition(ctx, stub, confirmations, warmup, paced);
        p50s.push(percentile(latencies, 50));
        p95s.push(percentile(latencies, 95));
        ctx.log(`email-latency #${rep + 1}: p50 ${p50s.at(-1)} ms, p95 ${p95s.at(-1)} ms, max ${Math.max(...latencies)} ms`);
      }
      const common = { confirmations, warmupConfirmations: warmup, workers: 1, jobPollInterval: '500 ms (default)' };
      const params = { ...common, confirmationsPerS: PACED_PER_S, repetitions, p95sMs: p95s };
      ctx.record({ benchmark: 'email-latency', variant: 'project', metric: 'p50_ms', value: sig(median(p50s)), params });
      ctx.record({ benchmark: 'email-latency', variant: 'project', metric: 'p95_ms', value: sig(median(p95s)), params });
      ctx.goal({ benchmark: 'email-latency', variant: 'project', metric: 'p95_ms', goal: '< 2,000 ms', below: 2000 });

      stub.reset();
      const burst = await repetition(ctx, stub, confirmations, warmup, undefined);
      const burstParams = { ...common, confirmationsPerS: sig(burst.confirmationsPerS), repetitions: 1 };
      ctx.log(
        `email-latency burst: ${burst.confirmationsPerS.toFixed(1)} confirmations/s, ${burst.emailsPerS.toFixed(1)} emails/s; ` +
          `p50 ${percentile(burst.latencies, 50)} ms, p95 ${percentile(burst.latencies, 95)} ms`,
      );
      ctx.record({ benchmark: 'email-latency', variant: 'burst', metric: 'emails_per_s', value: sig(burst.emailsPerS), params: burstParams });
      ctx.record({ benchmark: 'email-latency', variant: 'burst', metric: 'p50_ms', value: sig(percentile(burst.latencies, 50)), params: burstParams });
      ctx.record({ benchmark: 'email-latency', variant: 'burst', metric: 'p95_ms', value: sig(percentile(burst.latencies, 95)), params: burstParams });
    } finally {
      await stub.close();
    }
  },
};

/** The paced variant's rate: five confirmations a second, far more than a venue's admins confirm. */
const PACED_PER_S = 5;

interface Repetition {
  /** Each confirmation's latency, ms. */
  latencies: number[];
  /** Confirmations answered per second, from the first request to the last response. */
  confirmationsPerS: number;
  /** Emails accepted per second, from the first confirmation's request to the last email. */
  emailsPerS: number;
}

/** One repetition after a warm-up: confirmations one every `paced.everyMs`, or back to back without `paced`. */
async function repetition(ctx: BenchContext, stub: SendGridStub, confirmations: number, warmup: number, paced: { everyMs: number } | undefined): Promise<Repetition> {
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
    /** Confirms each, one after another; resolves with each email's latency once all have arrived, and how long the
     *  confirmations took to be answered. */
    const confirmAll = async (ids: string[]) => {
      const answeredAt = new Map<string, number>();
      const first = Date.now();
      for (const [i, id] of ids.entries()) {
        // Paced: each request at its own time from the first, whatever the earlier ones took.
        if (paced) await sleep(Math.max(0, first + i * paced.everyMs - Date.now()));
        const r = await gqlData(url, CONFIRM, { id }, admin.token);
        answeredAt.set(r.confirmReservation.history.at(-1).id, Date.now());
      }
      const answeredSpanMs = Date.now() - first;
      const arrived = () => stub.messages.filter((m) => m.subject === CONFIRMED_SUBJECT && answeredAt.has(m.customArgs.idempotency_key ?? ''));
      const mails = await pollUntil(async () => arrived(), (m) => m.length >= ids.length, `${ids.length} confirmation emails`, 120_000, 20);
      return { latencies: mails.map((m) => m.receivedAt.getTime() - answeredAt.get(m.customArgs.idempotency_key!)!), answeredSpanMs };
    };

    await confirmAll(await prepare(warmup));
    const ids = await prepare(confirmations);
    const started = Date.now();
    const { latencies, answeredSpanMs } = await confirmAll(ids);
    const spanMs = Date.now() - started;
    ctx.log(`email-latency: ${confirmations} confirmed${paced ? ` (one every ${paced.everyMs} ms)` : ' (back to back)'} and their emails delivered in ${spanMs} ms`);
    return { latencies, confirmationsPerS: (confirmations * 1000) / answeredSpanMs, emailsPerS: (confirmations * 1000) / spanMs };
  } finally {
    await stopProcess(worker);
    await stopProcess(api);
    await dropDatabase(uri);
  }
}
