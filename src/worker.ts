// Worker entry (`npm run worker`): runs the Agenda jobs of its job groups (WORKER_JOBS or `--jobs`: email,
// completion, webhooks, maintenance; all by default, src/jobs/groups.ts). Any number of workers may run at once.
// On SIGTERM a worker stops taking jobs, lets the running ones finish, and exits 0.
// `startWorker` is also what the all-in-one development mode (`npm start` without MONGODB_URI) runs in-process.
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { InMemoryNotificationChannel, type Agenda, type JobParameters } from 'agenda';
import mongoose from 'mongoose';
import type { Logger } from 'pino';
import { loadConfig, type Config } from './config.js';
import { connectDatabase, disconnectDatabase } from './db/connect.js';
import { runningEmbeddedUri } from './db/resolve.js';
import { logger } from './logger.js';
import { installProcessGuards } from './lib/process-guards.js';
import { createShutdown } from './lib/shutdown.js';
import { createMailRenderer } from './mail/render.js';
import { createTransport } from './mail/transport.js';
import { ensureJobIndexes, registerRecurring } from './jobs/agenda.js';
import type { JobContext } from './jobs/context.js';
import { JOB_GROUPS, type JobGroupName } from './jobs/groups.js';
import { keepFinishedCopies } from './jobs/history.js';
import { JOB } from './jobs/names.js';
import { createServices, type Services } from './services.js';
import { crashHook } from './status/crash-points.js';
import { createSecretBox } from './webhooks/secrets.js';

/** Agenda's own default cap on the jobs one worker runs at once. */
const DEFAULT_MAX_CONCURRENCY = 20;

/** Running jobs get this long to finish on shutdown: inside lib/shutdown.ts's 10 s limit. */
const DRAIN_TIMEOUT_MS = 8_000;

export interface Worker {
  agenda: Agenda;
  /** The job groups it runs (WORKER_JOBS). */
  jobs: readonly JobGroupName[];
  /** Stops taking jobs and waits for the running ones (up to DRAIN_TIMEOUT_MS). */
  stop(): Promise<void>;
}

/** A worker's Agenda is named after its host and process, so Agendash shows who ran what. */
export const workerAgendaName = () => `${os.hostname()}:${process.pid}`;

/** Starts processing jobs with `services` (whose Agenda it defines the jobs on and starts). */
export async function startWorker(services: Services): Promise<Worker> {
  const c = services.config;
  const log = services.log.child({ component: 'worker' });
  const renderer = createMailRenderer();
  await renderer.compile(); // a broken template stops start-up, not the first email
  const ctx: JobContext = {
    agenda: services.agenda,
    config: c,
    log,
    clock: services.clock,
    status: services.status,
    renderer,
    transport: createTransport({ apiKey: c.SENDGRID_API_KEY, baseUrl: c.SENDGRID_API_BASE_URL, outboxDir: c.MAIL_OUTBOX_DIR }),
    crash: crashHook(c.CRASH_POINT),
    webhooks: {
      config: c,
      box: createSecretBox(c),
      agenda: services.agenda,
      log: services.log.child({ component: 'webhooks' }),
      inFlight: new Map(),
    },
  };
  const groups = c.WORKER_JOBS.map((name) => JOB_GROUPS[name]);
  for (const group of groups) for (const define of group.define) define(ctx);
  const agenda = services.agenda;
  // Agenda's overall cap (20 by default) would let slow webhook deliveries take the slots email jobs need: the
  // webhook jobs get room of their own on top of it, so they can never hold more than theirs. The other jobs keep
  // the default cap: raising it lets more of them hit the database at once, which on FerretDB's SQLite backend
  // (one writer) made each job slower than its lock lifetime under load and so run twice.
  const webhookSlots = [JOB.fanOutWebhook, JOB.deliverWebhook].reduce((sum, name) => sum + (agenda.definitions[name]?.concurrency ?? 0), 0);
  agenda.maxConcurrency(DEFAULT_MAX_CONCURRENCY + webhookSlots);
  logJobOutcomes(agenda, log);
  // Jobs this worker schedules itself (a change's webhook deliveries, made by its fan-out job) start at once rather
  // than at the next poll: Agenda's in-process notification channel. Other processes' jobs are still found by polling.
  if (!agenda.hasNotificationChannel()) agenda.notifyVia(new InMemoryNotificationChannel());

  // Sent emails stay visible in the job dashboard for JOB_HISTORY_RETENTION (src/jobs/history.ts).
  const copies = keepFinishedCopies(agenda, [JOB.newReservationAdminNotification, JOB.reservationStatusEmail, JOB.sendReservationReminder], log);

  await agenda.ready;
  await ensureJobIndexes();
  for (const group of groups) {
    for (const recurring of group.recurring) {
      const { name, interval } = recurring(c);
      await registerRecurring(agenda, name, interval);
    }
  }
  await agenda.start();
  log.info({ jobs: c.WORKER_JOBS, jobNames: Object.keys(agenda.definitions) }, `running job groups: ${c.WORKER_JOBS.join(', ')}`);

  let stopping: Promise<void> | undefined;
  return { agenda, jobs: c.WORKER_JOBS, stop: () => (stopping ??= drain(agenda, log).finally(() => copies.stop())) };
}

async function drain(agenda: Agenda, log: Logger): Promise<void> {
  const stats = await agenda.getRunningStats(true);
  const ids = (jobs: JobParameters[] | number) => (Array.isArray(jobs) ? jobs.map((j) => String(j._id)) : []);
  const running = new Set(ids(stats.runningJobs));
  const waiting = ids(stats.lockedJobs).filter((id) => !running.has(id));
  const result = await agenda.drain(DRAIN_TIMEOUT_MS);
  // Jobs this worker locked ahead of their run time but never started: free them now for the other workers,
  // rather than after their lock expires.
  await agenda.db.unlockJobs(waiting);
  if (result.timedOut) {
    log.warn({ running: result.running }, 'jobs still running at shutdown; another worker takes them over when their lock expires');
  }
}

/** One log line per failure (with the reservation, the attempt and the provider's error), retry and give-up. */
function logJobOutcomes(agenda: Agenda, log: Logger): void {
  const fields = (job: { attrs: JobParameters }) => ({
    job: job.attrs.name,
    jobId: String(job.attrs._id),
    reservationId: (job.attrs.data as { reservationId?: string } | null)?.reservationId,
    attempt: job.attrs.failCount,
  });
  // dispatch-pending-effects runs every few seconds: its routine lines at debug, everything else at info.
  // Webhook jobs log their own outcome (webhook delivered, will retry, failed) with more to say than these lines.
  const quiet: readonly string[] = [JOB.dispatchPendingEffects, JOB.fanOutWebhook, JOB.deliverWebhook];
  const level = (job: { attrs: JobParameters }) => (quiet.includes(job.attrs.name) ? 'debug' : 'info');
  agenda.on('start', (job) => log[level(job)](fields(job), 'job started'));
  agenda.on('success', (job) => log[level(job)](fields(job), 'job succeeded'));
  agenda.on('fail', (err: Error, job) => log.warn({ ...fields(job), err }, 'job failed'));
  agenda.on('retry', (job, details) => log.info({ ...fields(job), retryInMs: details.delay }, 'job will be retried'));
  agenda.on('retry exhausted', (err, job) => log.error({ ...fields(job), err }, 'job gave up; left as failed'));
  agenda.on('error', (err) => log.error({ err }, 'job processing error'));
}

/** The worker's /healthz (alive) and /readyz (the database answers a ping within a second). */
function startHealthServer(c: Config): Promise<http.Server> {
  const jobs = c.WORKER_JOBS;
  const server = http.createServer(async (req, res) => {
    const reply = (status: number, body: object) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/healthz') return reply(200, { status: 'ok' });
    if (req.url === '/readyz') {
      const up = await databaseAnswers();
      return reply(up ? 200 : 503, { status: up ? 'ready' : 'not ready', database: up ? 'up' : 'down', jobs });
    }
    reply(404, { error: 'not found' });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(c.WORKER_HEALTH_PORT, c.HOST, () => resolve(server));
  });
}

async function databaseAnswers(): Promise<boolean> {
  if (mongoose.connection.readyState !== 1) return false;
  try {
    await mongoose.connection.db!.admin().command({ ping: 1 }, { timeoutMS: 1000 } as never);
    return true;
  } catch {
    return false;
  }
}

/** `--jobs webhooks,email` (or `--jobs=…`) on the command line: WORKER_JOBS, which it overrides. */
export function jobsArgument(argv: readonly string[]): string | undefined {
  const i = argv.findIndex((a) => a === '--jobs' || a.startsWith('--jobs='));
  if (i < 0) return undefined;
  return argv[i]!.includes('=') ? argv[i]!.slice('--jobs='.length) : (argv[i + 1] ?? '');
}

async function main(): Promise<void> {
  const jobs = jobsArgument(process.argv.slice(2));
  const c = loadConfig(jobs === undefined ? process.env : { ...process.env, WORKER_JOBS: jobs });
  const root = logger();
  const log = root.child({ component: 'worker' });
  const shutdown = createShutdown(log);
  installProcessGuards(shutdown);
  // Without MONGODB_URI a worker joins the embedded database of a running `npm start`. It does not start one of
  // its own: that would lock the data folder against the `npm start` that the worker is meant to serve.
  const uri = c.MONGODB_URI ?? runningEmbeddedUri(c);
  if (!uri) {
    process.stderr.write('No database: set MONGODB_URI, or start `npm start` first (the worker then uses its embedded database).\n');
    process.exit(1);
  }
  try {
    const db = await connectDatabase(uri);
    shutdown.add('database connection', () => disconnectDatabase(), 1);
    const worker = await startWorker(createServices(c, db, root, { agendaName: workerAgendaName() }));
    shutdown.add('worker', () => worker.stop(), 2);
    const health = await startHealthServer(c);
    shutdown.add('health server', () => new Promise((resolve) => health.close(resolve)), 3);
    log.info({ healthPort: (health.address() as AddressInfo).port, jobs: worker.jobs }, 'worker ready');
  } catch (err) {
    log.fatal({ err }, 'worker failed to start');
    void shutdown.run(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void main();
