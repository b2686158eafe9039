// `npm run bench -- --smoke`, so the benchmark suite cannot rot: every benchmark runs (tiny sizes, real processes,
// the run's database server) and reports every row. No timing is asserted: the figures of a smoke run mean nothing.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './support/processes.js';

/** Every row `bench/results/latest.json` must have: benchmark → variant → metrics. */
const EXPECTED: Record<string, Record<string, string[]>> = {
  sweep: {
    project: ['docs_per_s', 'peak_rss_mb'],
    'per-document-save': ['docs_per_s', 'peak_rss_mb'],
    'raw-updateMany': ['docs_per_s', 'peak_rss_mb'],
  },
  'email-render': { project: ['renders_per_s'], 'mjml-per-email': ['renders_per_s'] },
  'api-create': {
    project: ['req_per_s', 'p50_ms', 'p99_ms'],
    'raw-driver-writes': ['req_per_s', 'p50_ms', 'p99_ms'],
    'raw-feature-writes': ['req_per_s', 'p50_ms', 'p99_ms'],
  },
  cost: {
    idle: ['api_commands_per_s', 'api_cpu_ms_per_s', 'worker_commands_per_s', 'worker_cpu_ms_per_s'],
    ...Object.fromEntries(
      ['createReservation', 'confirmReservation', 'reservations'].map((op) => [
        op,
        [
          'commands_request_path',
          'commands_total',
          'api_cpu_ms_per_op',
          'worker_cpu_ms_per_op',
          'model_ops_per_s_per_api_core',
          'model_latency_floor_ms',
          'model_stack_floor_api_cpu_ms',
          // The mutations from 16 clients at once.
          'api_cpu_ms_per_op_at_16',
          'api_commands_per_op_at_16',
          'model_ops_per_s_per_api_core_at_16',
        ],
      ]),
    ),
    // The floors: a request that does nothing, a command with only the driver.
    'graphql-floor': ['commands_request_path', 'commands_total', 'api_cpu_ms_per_op', 'worker_cpu_ms_per_op'],
    'driver-floor': ['cpu_ms_per_command'],
    'sweep-batch': ['commands_total', 'api_cpu_ms_per_op', 'worker_cpu_ms_per_op'],
  },
  fanout: { project: ['p50_ms', 'p99_ms', 'p50_from_request_ms', 'p99_from_request_ms', 'mutation_ms'] },
  'email-latency': { project: ['p50_ms', 'p95_ms'], burst: ['emails_per_s', 'p50_ms', 'p95_ms'] },
  webhooks: { project: ['p50_ms', 'p95_ms', 'deliveries_per_s', 'worker_rss_before_mb', 'worker_rss_at_10pct_mb', 'worker_rss_after_mb'] },
};
/** Measured from the mutation's response: a delivery may beat the response to the client, so these may be ≤ 0. */
const SIGNED = new Set(['fanout/p50_ms', 'fanout/p99_ms']);
/** Differences with the idle cost subtracted: 0 where an operation costs a process nothing (or less than its noise). */
const MAY_BE_ZERO = /^cost\/(graphql-floor\/commands_request_path|.*\/(commands_total|api_cpu_ms_per_op|worker_cpu_ms_per_op|worker_cpu_ms_per_s|api_cpu_ms_per_s|api_commands_per_s|worker_commands_per_s))$/;

interface Report {
  machine: { cpus: number; model: string; memGb: number; node: string; platform: string };
  database: string;
  results: { benchmark: string; variant: string; metric: string; value: number; params: Record<string, unknown> }[];
  comparisons: { benchmark: string; variant: string; baseline: string; metric: string; ratio: number }[];
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('npm run bench -- --smoke measures every benchmark, variant and metric and writes them as JSON', async () => {
  const out = path.join(dir, 'smoke.json');
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'bench', 'run.js'), '--smoke', '--out', out], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME!, BENCH_MONGODB_URI: process.env.TEST_MONGODB_URI! },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' });

  const report = JSON.parse(fs.readFileSync(out, 'utf8')) as Report;
  expect(report.machine).toEqual({
    cpus: expect.any(Number),
    model: expect.any(String),
    memGb: expect.any(Number),
    node: process.version,
    platform: expect.any(String),
  });
  expect(report.database).toMatch(/FerretDB|MongoDB/);

  const rows = report.results.map((r) => `${r.benchmark}/${r.variant}/${r.metric}`);
  const expected = Object.entries(EXPECTED).flatMap(([b, variants]) =>
    Object.entries(variants).flatMap(([v, metrics]) => metrics.map((m) => `${b}/${v}/${m}`)),
  );
  expect([...rows].sort()).toEqual([...expected].sort());
  for (const r of report.results) {
    const signed = SIGNED.has(`${r.benchmark}/${r.metric}`) || MAY_BE_ZERO.test(`${r.benchmark}/${r.variant}/${r.metric}`);
    expect({ row: `${r.benchmark}/${r.variant}/${r.metric}`, finite: Number.isFinite(r.value), ok: signed || r.value > 0 }).toEqual({
      row: `${r.benchmark}/${r.variant}/${r.metric}`,
      finite: true,
      ok: true,
    });
  }
  // Each project figure beside its baselines.
  expect(report.comparisons.map((c) => `${c.benchmark}: ${c.variant} vs ${c.baseline} (${c.metric})`).sort()).toEqual([
    'api-create: project vs raw-driver-writes (req_per_s)',
    'api-create: project vs raw-feature-writes (req_per_s)',
    'email-render: project vs mjml-per-email (renders_per_s)',
    'sweep: project vs per-document-save (docs_per_s)',
    'sweep: project vs per-document-save (peak_rss_mb)',
    'sweep: project vs raw-updateMany (docs_per_s)',
    'sweep: project vs raw-updateMany (peak_rss_mb)',
  ]);
}, 600_000);
