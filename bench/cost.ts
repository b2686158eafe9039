// `cost`: what each operation costs, independently of the database server — the database commands it sends and
// the CPU the API server and the worker spend on it. These decide what production on MongoDB will do, whatever
// the emulator the run measures on.
//
//   commands   counted from outside the product: a counting wire proxy (test/support/command-proxy.ts) sits
//              between each process (API server, worker) and the database. `commands_request_path`: the API
//              server's commands between a request being sent and its response arriving; `commands_total`: every
//              command of both processes the operations caused until their effects were done (jobs, emails, live
//              events), less what the two processes send when idle over the same time.
//   CPU        utime + stime of each process from /proc/<pid>/stat over the operations, less its idle rate.
//
// Operations run one after another (no concurrency: per-operation cost, not throughput), against the real API
// server and worker processes with production settings, the worker sending to the SendGrid stub.
//
//   createReservation   a customer's mutation; its effects: the admin email, the live event
//   confirmReservation  an admin's mutation; its effects: the customer's email, the completion job, the live event
//   reservations        `reservations(first: 20)` with `history` and `customer`, as an admin
//   sweep-batch         check-overdue-reservations on overdue CONFIRMED reservations, per batch of 200
//   idle                per second, nothing happening
//
// Model rows: the throughput one API core gives at these CPU figures (1000 / api_cpu_ms_per_op) and the latency
// floor at MODEL_RTT_MS per round trip (the request path's commands are sequential, plus the API CPU).
//
// Beside them, measured in the same run: the floors (`graphql-floor`: `{ __typename }` through the same server;
// `driver-floor`: one command from a process with only the driver) and each operation's stack floor from them; and
// the operations again from CONCURRENCY clients at once (`…_at_16`), where concurrent hand-overs are grouped.
// BENCH_CPU_PROF=<dir> records a V8 profile per process per operation (bench/support/profiler.ts).
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { Types } from 'mongoose';
import type { BenchContext, Benchmark } from './support/harness.js';
import { dropDatabase, serviceEnv, sig } from './support/harness.js';
import { describeCommands, processCpuMs, startCommandProxy, type CommandProxy } from '../test/support/command-proxy.js';
import { insertConfirmed } from '../test/support/fixtures.js';
import { createAdmin, gqlData, gqlTimed, signUp } from '../test/support/graphql.js';
import { pollUntil, sleep } from '../test/support/poll.js';
import { startApiProcess, startProcess, startWorkerProcess, stopProcess, type Proc } from '../test/support/processes.js';
import { startSendGridStub } from '../test/support/sendgrid-stub.js';
import { attachProfiler, formatSummary, inspectorArgs, type StepProfiler } from './support/profiler.js';

const CREATE = `mutation($input: CreateReservationInput!) { createReservation(input: $input) { id reference status } }`;
const CONFIRM = `mutation($id: ID!) { confirmReservation(id: $id) { id status } }`;
const LIST = `query { reservations(first: 20) { totalCount nodes { id reference status startTime
  customer { id displayName email } history { id from to at actor reason } } } }`;
/** The round-trip time the latency floor is stated at: a client and MongoDB in one cloud region. */
export const MODEL_RTT_MS = 1;
const SWEEP_BATCH = 200;
/** Operations of each kind before anything is measured. */
const WARM_UP = 100;
/** Clients at once in the concurrent rows. */
const CONCURRENCY = 16;

/** The issue's targets (#14): commands in the request path, API CPU ms per operation. */
export const TARGETS = Object.freeze({
  createReservation: { commands: 3, apiCpuMs: 3 },
  confirmReservation: { commands: 4, apiCpuMs: 3 },
  reservations: { commands: 3, apiCpuMs: 2 },
  idle: { commands: 1, apiCpuMs: 3 },
} as const);

interface Sample {
  /** Both processes' CPU ms and the time, at a point. */
  api: number;
  worker: number;
  t: number;
}

export const cost: Benchmark = {
  name: 'cost',
  async run(ctx) {
    const n = ctx.options.smoke ? 5 : 100;
    const idleSeconds = ctx.options.smoke ? 1 : 10;
    const sweepBatches = ctx.options.sweepDocs ? Math.ceil(ctx.options.sweepDocs / SWEEP_BATCH) : ctx.options.smoke ? 1 : 2;
    const uri = ctx.freshDatabaseUri('cost');
    const stub = await startSendGridStub();
    const client = await MongoClient.connect(uri);
    const db = client.db();
    const apiProxy = await startCommandProxy(uri);
    const workerProxy = await startCommandProxy(uri);
    const env = (proxy: CommandProxy) =>
      serviceEnv(proxy.uri, {
        SENDGRID_API_KEY: stub.apiKey,
        SENDGRID_API_BASE_URL: stub.url,
        COMPLETION_BATCH_SIZE: String(SWEEP_BATCH),
        // Started by the benchmark below, not by the clock.
        COMPLETION_SWEEP_INTERVAL: '1 hour',
      });
    let api: (Proc & { url: string }) | undefined;
    let worker: Proc | undefined;
    const profilers: { api?: StepProfiler; worker?: StepProfiler } = {};
    try {
      api = await startApiProcess(env(apiProxy), { keepLines: 1000, nodeArgs: inspectorArgs() });
      worker = await startWorkerProcess(env(workerProxy), [], { nodeArgs: inspectorArgs() });
      // BENCH_CPU_PROF=<dir>: one V8 profile per process per operation below (cost-<operation>-api.cpuprofile).
      profilers.api = await attachProfiler(api);
      profilers.worker = await attachProfiler(worker);
      const apiPid = api.child.pid!;
      const workerPid = worker.child.pid!;
      const url = api.url;
      const admin = await createAdmin(url, { mongoUri: uri });
      const customer = await signUp(url, { firstName: 'Bench', lastName: 'Guest' });
      const startTime = new Date(Date.now() + 2 * 86_400_000).toISOString();
      const sample = async (): Promise<Sample> => ({ api: await processCpuMs(apiPid), worker: await processCpuMs(workerPid), t: performance.now() });

      // Warm-up: WARM_UP of each, their effects done, so V8 has compiled the hot paths of both processes before
      // anything is measured (its compiler threads' CPU counts in /proc like any other).
      const warmUp = ctx.options.smoke ? 2 : WARM_UP;
      const warm: string[] = [];
      for (let i = 0; i < warmUp; i++) warm.push((await gqlData(url, CREATE, { input: { startTime, partySize: 2 } }, customer.token)).createReservation.id);
      for (const id of warm) await gqlData(url, CONFIRM, { id }, admin.token);
      for (let i = 0; i < warmUp; i++) await gqlData(url, LIST, {}, admin.token);
      for (let i = 0; i < warmUp; i++) await gqlData(url, '{ __typename }', {}, customer.token);
      await pollUntil(async () => stub.messages.length, (m) => m >= 2 * warmUp, 'the warm-up emails', 120_000, 50);
      await sleep(1000);

      // Idle: what both processes send and spend per second with nothing happening.
      const idleFrom = await sample();
      await sleep(idleSeconds * 1000);
      const idleTo = await sample();
      const idleS = (idleTo.t - idleFrom.t) / 1000;
      const idle = {
        apiCommandsPerS: apiProxy.between(idleFrom.t, idleTo.t).length / idleS,
        workerCommandsPerS: workerProxy.between(idleFrom.t, idleTo.t).length / idleS,
        apiCpuMsPerS: (idleTo.api - idleFrom.api) / idleS,
        workerCpuMsPerS: (idleTo.worker - idleFrom.worker) / idleS,
      };
      ctx.log(
        `cost idle: API ${sig(idle.apiCommandsPerS)} commands/s (${describeCommands(apiProxy.between(idleFrom.t, idleTo.t), idleS)}), ` +
          `${sig(idle.apiCpuMsPerS)} CPU ms/s; worker ${sig(idle.workerCommandsPerS)} commands/s (${describeCommands(workerProxy.between(idleFrom.t, idleTo.t), idleS)}), ${sig(idle.workerCpuMsPerS)} CPU ms/s`,
      );
      const idleParams = { seconds: idleSeconds, liveFeed: ctx.database.kind === 'mongodb' ? 'tailing (awaitData)' : 'polling (FerretDB: see DatabaseCapabilities.tailableCursors)' };
      if (ctx.database.kind !== 'mongodb') {
        ctx.note(
          "cost: on FerretDB the API server's live feed polls (10 point lookups/s) instead of tailing: FerretDB 1.24 re-runs an awaitData " +
            'cursor\'s query every 10 ms (measured 51–471 ms of its CPU per second per idle feed, vs 18 ms/s for the polling); on MongoDB it tails (~0.7 commands/s)',
        );
      }
      ctx.record({ benchmark: 'cost', variant: 'idle', metric: 'api_commands_per_s', value: sig(idle.apiCommandsPerS), params: { ...idleParams, commands: describeCommands(apiProxy.between(idleFrom.t, idleTo.t), idleS) } });
      ctx.record({ benchmark: 'cost', variant: 'idle', metric: 'api_cpu_ms_per_s', value: sig(idle.apiCpuMsPerS), params: idleParams });
      ctx.record({ benchmark: 'cost', variant: 'idle', metric: 'worker_commands_per_s', value: sig(idle.workerCommandsPerS), params: { ...idleParams, commands: describeCommands(workerProxy.between(idleFrom.t, idleTo.t), idleS) } });
      ctx.record({ benchmark: 'cost', variant: 'idle', metric: 'worker_cpu_ms_per_s', value: sig(idle.workerCpuMsPerS), params: idleParams });
      ctx.goal({ benchmark: 'cost', variant: 'idle', metric: 'api_commands_per_s', goal: `≤ ${TARGETS.idle.commands}`, below: TARGETS.idle.commands + 1e-9 });
      ctx.goal({ benchmark: 'cost', variant: 'idle', metric: 'api_cpu_ms_per_s', goal: `≤ ${TARGETS.idle.apiCpuMs} ms`, below: TARGETS.idle.apiCpuMs + 1e-9 });

      /** The API server's CPU ms and commands per operation between two samples, its idle rate subtracted. */
      const apiPerOp = (from: Sample, to: Sample, count: number) => {
        const seconds = (to.t - from.t) / 1000;
        return {
          apiCpu: (to.api - from.api - idle.apiCpuMsPerS * seconds) / count,
          apiCommands: (apiProxy.between(from.t, to.t).length - idle.apiCommandsPerS * seconds) / count,
        };
      };

      /**
       * Runs `op` n times one after another, then waits for `settled`; records the operation's rows. `op` resolves
       * when its response has arrived.
       */
      const measure = async (
        variant: keyof typeof TARGETS | 'sweep-batch' | 'graphql-floor',
        count: number,
        op: (i: number) => Promise<{ sentAt: number; answeredAt: number } | void>,
        settled: () => Promise<void>,
        perOp = count,
        /** Between operations: the one before has handed its effects over, so its commands after the response do
         *  not fall into the next one's request path. */
        handedOver = async () => {},
      ) => {
        const windows: [number, number][] = [];
        await Promise.all([profilers.api?.start(), profilers.worker?.start()]);
        const from = await sample();
        for (let i = 0; i < count; i++) {
          const timed = await op(i);
          if (timed) windows.push([timed.sentAt, timed.answeredAt]);
          await handedOver();
        }
        // The API server's part is done once every change is handed over (each operation waited for that) and its
        // feed has read the last event: its CPU is taken there, not after the worker's emails, which would only add
        // the API server's idle time (and the noise of subtracting it) to its figure.
        const apiDone = variant === 'sweep-batch' ? undefined : (await sleep(300), await sample());
        await settled();
        const to = await sample();
        for (const [proc, profiler] of Object.entries(profilers)) {
          if (profiler) ctx.log(`cost ${variant} profile, ${proc}: ${formatSummary(await profiler.stop(`cost-${variant}-${proc}`))}`);
        }
        const seconds = (to.t - from.t) / 1000;
        const requestPath = windows.flatMap(([a, b]) => apiProxy.requestPath(a, b));
        if (process.env.COST_DEBUG && windows[0]) {
          const [a, b] = windows[0];
          ctx.log(`${variant} first request ${sig(b - a)} ms: ${apiProxy.between(a - 5, b + 30).map((c) => `${sig(c.at - a)} ${c.name} ${c.collection ?? ''}`).join(' | ')}`);
        }
        const api = apiProxy.between(from.t, to.t);
        const wrk = workerProxy.between(from.t, to.t);
        const total = (api.length + wrk.length - (idle.apiCommandsPerS + idle.workerCommandsPerS) * seconds) / perOp;
        const { apiCpu, apiCommands } = apiPerOp(from, apiDone ?? to, perOp);
        const workerCpu = (to.worker - from.worker - idle.workerCpuMsPerS * seconds) / perOp;
        const params = { operations: count, perOp: variant === 'sweep-batch' ? `batch of ${SWEEP_BATCH}` : 'operation', seconds: sig(seconds) };
        const row = (metric: string, value: number, extra: Record<string, unknown> = {}) =>
          ctx.record({ benchmark: 'cost', variant, metric, value: sig(Math.max(0, value)), params: { ...params, ...extra } });
        if (windows.length && variant !== 'sweep-batch') {
          row('commands_request_path', requestPath.length / count, { commands: describeCommands(requestPath, count) });
        }
        row('commands_total', total, { api: describeCommands(api, perOp), worker: describeCommands(wrk, perOp) });
        row('api_cpu_ms_per_op', apiCpu);
        row('worker_cpu_ms_per_op', workerCpu);
        ctx.log(
          `cost ${variant}: request path ${sig(requestPath.length / count)} (${describeCommands(requestPath, count)}); total ${sig(total)}; ` +
            `API ${sig(apiCpu)} CPU ms, worker ${sig(workerCpu)} CPU ms per ${params.perOp}`,
        );
        const target = variant === 'sweep-batch' || variant === 'graphql-floor' ? undefined : TARGETS[variant];
        if (target && variant !== 'idle') {
          ctx.goal({ benchmark: 'cost', variant, metric: 'commands_request_path', goal: `≤ ${target.commands}`, below: target.commands + 1e-9 });
          ctx.goal({ benchmark: 'cost', variant, metric: 'api_cpu_ms_per_op', goal: `≤ ${target.apiCpuMs} ms`, below: target.apiCpuMs + 1e-9 });
          // The model: what these figures predict on any server.
          ctx.record({ benchmark: 'cost', variant, metric: 'model_ops_per_s_per_api_core', value: sig(1000 / Math.max(apiCpu, 0.01)), params: { from: 'api_cpu_ms_per_op' } });
          ctx.record({
            benchmark: 'cost',
            variant,
            metric: 'model_latency_floor_ms',
            value: sig((requestPath.length / count) * MODEL_RTT_MS + Math.max(apiCpu, 0)),
            params: { rttMs: MODEL_RTT_MS, from: 'commands_request_path × rtt + api_cpu_ms_per_op' },
          });
        }
        return { apiCpu, apiCommands };
      };

      // The floors this machine and this stack set, measured beside the operations: what a request costs the API
      // server when it does nothing (`{ __typename }` through the same HTTP, auth, Apollo and logging path), and
      // what one database command costs a Node process with only the driver (bench/support/driver-floor.ts).
      const floor = await measure('graphql-floor', n, () => gqlTimed(url, '{ __typename }', {}, customer.token), async () => sleep(200));
      const driverFloor = await driverCommandCpuMs(uri, n * 5);
      ctx.record({
        benchmark: 'cost',
        variant: 'driver-floor',
        metric: 'cpu_ms_per_command',
        value: sig(driverFloor),
        params: { commands: n * 5, what: 'one insertOne at a time, MongoDB driver only, its own process' },
      });
      /** What an operation's API CPU cannot go below on this stack and machine: the request floor plus its API
       *  server's commands (before and after the response) at the driver's own cost each. */
      const stackFloor = (variant: keyof typeof TARGETS, m: { apiCpu: number; apiCommands: number }) => {
        const value = floor.apiCpu + m.apiCommands * driverFloor;
        ctx.record({
          benchmark: 'cost',
          variant,
          metric: 'model_stack_floor_api_cpu_ms',
          value: sig(value),
          params: { from: 'graphql-floor api_cpu_ms_per_op + API commands per operation × driver-floor cpu_ms_per_command', apiCommandsPerOp: sig(m.apiCommands) },
        });
        ctx.log(`cost ${variant}: API CPU ${sig(m.apiCpu)} ms against a stack floor of ${sig(value)} ms (${sig(floor.apiCpu)} + ${sig(m.apiCommands)} commands × ${sig(driverFloor)})`);
      };

      const emailsBefore = () => stub.messages.length;
      // createReservation: settled once every admin email is out and every change dispatched.
      const created: string[] = [];
      let expected = emailsBefore() + n;
      const creating = await measure(
        'createReservation',
        n,
        async () => {
          const r = await gqlTimed(url, CREATE, { input: { startTime, partySize: 2 } }, customer.token);
          created.push(r.data.createReservation.id);
          return r;
        },
        () => settle(db, stub, expected),
        n,
        () => dispatched(db),
      );
      stackFloor('createReservation', creating);
      expected += n;
      const confirming = await measure(
        'confirmReservation',
        n,
        (i) => gqlTimed(url, CONFIRM, { id: created[i] }, admin.token),
        () => settle(db, stub, expected),
        n,
        () => dispatched(db),
      );
      stackFloor('confirmReservation', confirming);
      stackFloor('reservations', await measure('reservations', n, () => gqlTimed(url, LIST, {}, admin.token), async () => sleep(200)));

      // The same mutations from CONCURRENCY clients at once: what an operation costs when the server is busy,
      // its hand-over shared with the changes committed beside it (service.ts groups them). The targets are the
      // one-at-a-time rows above; these say what a loaded API core does.
      const concurrently = async (variant: 'createReservation' | 'confirmReservation' | 'reservations', op: (i: number) => Promise<void>) => {
        const count = n * 2;
        const from = await sample();
        let next = 0;
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            for (let i = next++; i < count; i = next++) await op(i);
          }),
        );
        // As above: the API server's part ends with the last hand-over and the feed's last read, before the
        // worker's emails (waited for below, so they do not run into the next measurement).
        await dispatched(db);
        await sleep(300);
        const to = await sample();
        if (variant !== 'reservations') expected += count;
        await settle(db, stub, expected);
        const seconds = (to.t - from.t) / 1000;
        const { apiCpu, apiCommands } = apiPerOp(from, to, count);
        const params = {
          operations: count,
          concurrency: CONCURRENCY,
          seconds: sig(seconds),
          api: describeCommands(apiProxy.between(from.t, to.t), count),
          worker: describeCommands(workerProxy.between(from.t, to.t), count),
        };
        ctx.record({ benchmark: 'cost', variant, metric: `api_cpu_ms_per_op_at_${CONCURRENCY}`, value: sig(Math.max(0, apiCpu)), params });
        ctx.record({ benchmark: 'cost', variant, metric: `api_commands_per_op_at_${CONCURRENCY}`, value: sig(Math.max(0, apiCommands)), params });
        ctx.record({
          benchmark: 'cost',
          variant,
          metric: `model_ops_per_s_per_api_core_at_${CONCURRENCY}`,
          value: sig(1000 / Math.max(apiCpu, 0.01)),
          params: { from: `api_cpu_ms_per_op_at_${CONCURRENCY}` },
        });
        ctx.log(
          `cost ${variant} at ${CONCURRENCY} concurrent, ${sig(seconds)} s: API ${sig(apiCpu)} CPU ms and ${sig(apiCommands)} commands per operation (${params.api}); worker: ${params.worker}`,
        );
      };
      const createdTogether: string[] = [];
      await concurrently('createReservation', async () => {
        createdTogether.push((await gqlData(url, CREATE, { input: { startTime, partySize: 2 } }, customer.token)).createReservation.id);
      });
      await concurrently('confirmReservation', async (i) => {
        await gqlData(url, CONFIRM, { id: createdTogether[i] }, admin.token);
      });
      await concurrently('reservations', async () => {
        await gqlData(url, LIST, {}, admin.token);
      });

      // One sweep: `sweepBatches` batches of overdue CONFIRMED reservations, started by hand.
      const overdue = SWEEP_BATCH * sweepBatches;
      await insertConfirmed(overdue, (i) => new Date(Date.now() - 86_400_000 - i * 1000), new Types.ObjectId(customer.id), db.collection('reservations'));
      await measure(
        'sweep-batch',
        0,
        async () => {},
        async () => {
          await db.collection('agendaJobs').updateOne({ name: 'check-overdue-reservations' }, { $set: { nextRunAt: new Date() } });
          // Polled rarely: on FerretDB each count reads the whole collection, slowing the sweep it waits for.
          await pollUntil(() => db.collection('reservations').countDocuments({ status: 'COMPLETED' }), (c) => c >= overdue, 'the sweep', 300_000, 1000).catch(
            (err: unknown) => {
              throw new Error(`${(err as Error).message}; the worker said:\n${worker!.lines.slice(-15).join('\n')}`);
            },
          );
          await pollUntil(() => db.collection('statusclaims').countDocuments({ dispatched: false }), (c) => c === 0, 'the sweep dispatched', 60_000, 500);
          await sleep(300); // the API server's feed reads the last live events
        },
        sweepBatches,
      );
    } finally {
      profilers.api?.close();
      profilers.worker?.close();
      await stopProcess(worker);
      await stopProcess(api);
      await apiProxy.close();
      await workerProxy.close();
      await client.close();
      await dropDatabase(uri);
      await stub.close();
    }
  },
};

/** The CPU ms one command costs a process running only the driver (bench/support/driver-floor.ts). */
async function driverCommandCpuMs(uri: string, commands: number): Promise<number> {
  const child = startProcess(fileURLToPath(new URL('./support/driver-floor.js', import.meta.url)), {}, { args: [uri, String(commands)] });
  const code = await child.exited;
  const line = child.lines.find((l) => l.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`driver-floor exited ${code}:\n${child.lines.join('\n')}`);
  return (JSON.parse(line) as { cpuMsPerCommand: number }).cpuMsPerCommand;
}

/** Every change's effects handed over (its claim marked dispatched), checked on the bench's own connection. */
async function dispatched(db: ReturnType<MongoClient['db']>): Promise<void> {
  await pollUntil(() => db.collection('statusclaims').countDocuments({ dispatched: false }), (c) => c === 0, 'every change dispatched', 60_000, 5);
}

/** Every email out and every change dispatched, then a moment for the live feeds to read the last events. */
async function settle(db: ReturnType<MongoClient['db']>, stub: { messages: unknown[] }, emails: number): Promise<void> {
  await pollUntil(async () => stub.messages.length, (m) => m >= emails, `${emails} emails`, 120_000, 20);
  await pollUntil(() => db.collection('statusclaims').countDocuments({ dispatched: false }), (c) => c === 0, 'every change dispatched', 60_000, 50);
  await sleep(300);
}

export type { BenchContext };
