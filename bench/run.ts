// `npm run bench`: every benchmark beside its baselines, measured in the same run on the same data.
//
//   node dist/bench/run.js [--smoke] [--large] [--only <name>[,<name>…]] [--sweep-docs N] [--webhook-deliveries N] [--out FILE]
//
// One embedded MongoDB-compatible server for the run (src/db/embedded/: mongod → mongodb-memory-server →
// FerretDB), or BENCH_MONGODB_URI; a fresh database per benchmark. Prints a table and writes
// bench/results/latest.json (--large: large.json; --smoke: smoke.json, whose figures mean nothing; --only,
// --sweep-docs or a failure: <name>.partial.json, so a partial run never replaces a full one).
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { apiCreate } from './api-create.js';
import { cost } from './cost.js';
import { emailLatency } from './email-latency.js';
import { emailRender } from './email-render.js';
import { fanout } from './fanout.js';
import {
  machine,
  sig,
  type BenchContext,
  type Benchmark,
  type Comparison,
  type Database,
  type Goal,
  type ResultRow,
  type RunOptions,
} from './support/harness.js';
import { sweep } from './sweep.js';
import { webhooks } from './webhooks.js';
import { databaseUri } from '../test/support/mongo.js';
import { killAllProcesses, ROOT } from '../test/support/processes.js';

const BENCHMARKS: Benchmark[] = [cost, sweep, emailRender, apiCreate, fanout, emailLatency, webhooks];

interface Cli extends RunOptions {
  only?: string[];
  out?: string;
}

function parseArgs(argv: string[]): Cli {
  const cli: Cli = { smoke: false, large: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--smoke') cli.smoke = true;
    else if (a === '--large') cli.large = true;
    else if (a === '--only') cli.only = value().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a.startsWith('--only=')) cli.only = a.slice(7).split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--sweep-docs') cli.sweepDocs = positiveInt(a, value());
    else if (a === '--webhook-deliveries') cli.webhookDeliveries = positiveInt(a, value());
    else if (a === '--out') cli.out = value();
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
  }
  for (const name of cli.only ?? []) {
    if (!BENCHMARKS.some((b) => b.name === name)) usage(`unknown benchmark ${name} (known: ${BENCHMARKS.map((b) => b.name).join(', ')})`);
  }
  return cli;
}

function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) usage(`${name} must be a positive integer`);
  return n;
}

function usage(error?: string): never {
  const text = `usage: node dist/bench/run.js [--smoke] [--large] [--only ${BENCHMARKS.map((b) => b.name).join('|')}[,…]] [--sweep-docs N] [--out FILE]
  --smoke        a fast, tiny run of every benchmark (writes bench/results/smoke.json)
  --large        the sweep at 100,000 reservations (writes bench/results/large.json)
  --only NAMES   just these benchmarks (comma-separated)
  --sweep-docs N the sweep's size
  --webhook-deliveries N  the webhooks benchmark's volume (default 300; --large 10,000)
  --out FILE     where to write the JSON
  BENCH_MONGODB_URI=mongodb://…  measure against this server instead of an embedded one`;
  process.stderr.write(`${error ? `${error}\n` : ''}${text}\n`);
  process.exit(error ? 2 : 0);
}

/** The server the run measures: BENCH_MONGODB_URI, else the embedded resolver's. */
async function openDatabase(log: (s: string) => void): Promise<Database & { stop(): Promise<void> }> {
  let uri = process.env.BENCH_MONGODB_URI;
  let stop = async () => {};
  let embeddedKind: string | undefined;
  if (!uri) {
    const { parseEmbeddedSettings } = await import('../src/config.js');
    const { startEmbeddedMongo } = await import('../src/db/embedded/index.js');
    const started = Date.now();
    const embedded = await startEmbeddedMongo({
      dataDir: path.join(ROOT, '.data', 'bench'),
      ephemeral: true,
      settings: parseEmbeddedSettings(process.env),
      env: process.env,
      log,
    });
    log(`embedded ${embedded.kind} at ${embedded.uri} (started in ${Date.now() - started} ms)`);
    uri = embedded.uri;
    embeddedKind = embedded.kind;
    stop = () => embedded.stop();
  }
  const client = await MongoClient.connect(uri, { serverSelectionTimeoutMS: 5000 });
  try {
    const info = (await client.db('admin').command({ buildInfo: 1 })) as { version?: string; ferretdbVersion?: string };
    const ferret = info.ferretdbVersion;
    const onPostgres = embeddedKind === 'ferretdb-postgresql';
    const backend = onPostgres ? 'PostgreSQL backend, embedded' : embeddedKind ? 'SQLite backend, embedded' : 'backend not known';
    const description = ferret
      ? `FerretDB ${ferret} (${backend}; reports MongoDB ${info.version})`
      : `MongoDB ${info.version}${embeddedKind ? ` (embedded ${embeddedKind})` : ''}`;
    return { uri, kind: ferret ? (onPostgres ? 'ferretdb-postgresql' : 'ferretdb') : 'mongodb', description, stop };
  } finally {
    await client.close();
  }
}

async function main(): Promise<void> {
  const cli = parseArgs(process.argv.slice(2));
  // Every server, worker and child a benchmark starts dies with the run, however the run ends.
  process.once('exit', killAllProcesses);
  const started = Date.now();
  const log = (s: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${s}\n`);
  // The bench process loads application modules (models, renderer) that read the configuration once.
  process.env.NODE_ENV ??= 'test';
  process.env.LOG_LEVEL ??= 'warn';

  // Other work on the machine skews every figure: recorded, and warned about.
  const loadAtStart = os.loadavg().map((l) => sig(l, 2));
  if (loadAtStart[0]! > os.cpus().length * 0.5) log(`warning: the machine is busy (load ${loadAtStart.join(', ')}); figures will be low`);
  const db = await openDatabase(log);
  const rows: ResultRow[] = [];
  const comparisons: Comparison[] = [];
  const goals: Goal[] = [];
  const notes: string[] = [];
  const find = (benchmark: string, variant: string, metric: string) =>
    rows.find((r) => r.benchmark === benchmark && r.variant === variant && r.metric === metric);
  const ctx: BenchContext = {
    options: cli,
    database: db,
    freshDatabaseUri: (name) => databaseUri(db.uri, `bench_${name}`),
    record: (row) => rows.push(row),
    compare({ atLeast, atMost, ...c }) {
      const project = find(c.benchmark, c.variant, c.metric);
      const baseline = find(c.benchmark, c.baseline, c.metric);
      if (!project || !baseline) return;
      const ratio = sig(project.value / baseline.value);
      const met = c.goal ? (atLeast === undefined || ratio >= atLeast) && (atMost === undefined || ratio <= atMost) : undefined;
      comparisons.push({ ...c, ratio, ...(met === undefined ? {} : { met }) });
    },
    goal({ below, ...g }) {
      const row = find(g.benchmark, g.variant, g.metric);
      if (row) goals.push({ ...g, value: row.value, met: row.value < below });
    },
    note(text) {
      notes.push(text);
      log(`note: ${text}`);
    },
    log,
  };

  const selected = BENCHMARKS.filter((b) => !cli.only || cli.only.includes(b.name));
  let failed = false;
  try {
    for (const b of selected) {
      log(`${b.name}: starting`);
      const t = Date.now();
      try {
        await b.run(ctx);
        log(`${b.name}: done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      } catch (err) {
        failed = true;
        log(`${b.name}: FAILED: ${(err as Error).stack ?? String(err)}`);
      }
    }
  } finally {
    await db.stop();
  }

  const report = {
    machine: machine(),
    database: db.description,
    startedAt: new Date(started).toISOString(),
    durationS: Math.round((Date.now() - started) / 1000),
    command: `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    loadAverage: { start: loadAtStart, end: os.loadavg().map((l) => sig(l, 2)) },
    results: rows,
    comparisons,
    goals,
    notes,
  };
  // A partial run (--only, --sweep-docs, a failure) must not overwrite the committed results of a full one.
  const name = cli.smoke ? 'smoke' : cli.large ? 'large' : 'latest';
  const partial = !cli.smoke && (cli.only || cli.sweepDocs || cli.webhookDeliveries || failed);
  const target = path.resolve(cli.out ?? path.join(ROOT, 'bench', 'results', `${name}${partial ? '.partial' : ''}.json`));
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, `${JSON.stringify(report, null, 2)}\n`);

  process.stdout.write(`\n${table(rows, comparisons, goals)}\n`);
  process.stdout.write(`\nmachine: ${os.cpus().length} × ${report.machine.model}, ${report.machine.memGb} GB, node ${process.version}; database: ${db.description}\n`);
  for (const n of notes) process.stdout.write(`note: ${n}\n`);
  process.stdout.write(`wrote ${path.relative(process.cwd(), target)} in ${report.durationS} s\n`);
  process.exit(failed ? 1 : 0);
}

/** A plain-text table: one line per row, with the project's ratio to each baseline and the goals. */
export function table(rows: ResultRow[], comparisons: Comparison[], goals: Goal[]): string {
  const lines: string[][] = [['benchmark', 'variant', 'metric', 'value', 'vs baselines / goal']];
  for (const r of rows) {
    const notes: string[] = [];
    for (const c of comparisons.filter((c) => c.benchmark === r.benchmark && c.metric === r.metric && c.variant === r.variant)) {
      notes.push(`${c.ratio}× ${c.baseline}${c.goal ? ` (goal ${c.goal}: ${c.met ? 'met' : 'MISSED'})` : ''}`);
    }
    for (const g of goals.filter((g) => g.benchmark === r.benchmark && g.metric === r.metric && g.variant === r.variant)) {
      notes.push(`goal ${g.goal}: ${g.met ? 'met' : 'MISSED'}`);
    }
    lines.push([r.benchmark, r.variant, r.metric, String(r.value), notes.join('; ')]);
  }
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines
    .map((l, n) => {
      const text = l.map((cell, i) => (i === 3 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
      return n === 0 ? `${text}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : text;
    })
    .join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
