// What every benchmark shares: the run's options, the database it measures against, result rows, statistics.
// Processes, the GraphQL client, polling and fixtures are the tests' (test/support/), shared with them.
import os from 'node:os';
import { stackEnv } from '../../test/support/processes.js';

export interface RunOptions {
  /** A fast, tiny run that proves the suite works; its figures mean nothing. */
  smoke: boolean;
  /** The sweep at 100,000 reservations. */
  large: boolean;
  /** Overrides the sweep's size (reservations). */
  sweepDocs?: number;
  /** Overrides the webhooks benchmark's volume (deliveries). */
  webhookDeliveries?: number;
}

export interface Database {
  /** The server's URI without a database name. */
  uri: string;
  /** e.g. `ferretdb (FerretDB v1.24.2, SQLite backend; reports MongoDB 7.0.77)`. */
  description: string;
  /** `ferretdb`: on SQLite (or a FerretDB whose backend is not known); `ferretdb-postgresql`: on PostgreSQL. */
  kind: 'ferretdb' | 'ferretdb-postgresql' | 'mongodb';
}

/** One measured figure: a row of `results` in the JSON. */
export interface ResultRow {
  benchmark: string;
  variant: string;
  metric: string;
  value: number;
  params: Record<string, unknown>;
}

/** How a project figure compares with a baseline's, and the goal the issue sets for it. */
export interface Comparison {
  benchmark: string;
  metric: string;
  variant: string;
  baseline: string;
  /** project / baseline. */
  ratio: number;
  /** The goal for this ratio, if it sets one. */
  goal?: string;
  met?: boolean;
}

/** An absolute goal (no baseline): `value` against `limit`. */
export interface Goal {
  benchmark: string;
  variant: string;
  metric: string;
  value: number;
  goal: string;
  met: boolean;
}

export interface BenchContext {
  options: RunOptions;
  database: Database;
  /** A database no other benchmark (or repetition) uses, on the run's server. */
  freshDatabaseUri(name: string): string;
  record(row: ResultRow): void;
  compare(c: Omit<Comparison, 'ratio' | 'met'> & { atLeast?: number; atMost?: number }): void;
  goal(g: Omit<Goal, 'value' | 'met'> & { below: number }): void;
  /** Something a reader of the results must know (a reduced size, a skipped part and why). */
  note(text: string): void;
  log(text: string): void;
}

export interface Benchmark {
  name: string;
  run(ctx: BenchContext): Promise<void>;
}

/** The environment of a benchmark's API server and worker processes: production settings. */
export function serviceEnv(mongoUri: string, extra: Record<string, string> = {}): Record<string, string> {
  return stackEnv(mongoUri, {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    // Production requires a SendGrid key; benchmarks without a stub point it at a closed port (nothing is sent
    // there: they run no worker).
    SENDGRID_API_KEY: 'SG.bench-key',
    SENDGRID_API_BASE_URL: 'http://127.0.0.1:9',
    ...extra,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Statistics

export function median(values: number[]): number {
  return percentile(values, 50);
}

/** The nearest-rank percentile (`p` in 0..100) of `values`. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Rounds to `digits` significant digits: figures, not noise. */
export function sig(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  return Number(value.toPrecision(digits));
}

// ---------------------------------------------------------------------------------------------------------
// The machine

export function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    model: cpus[0]?.model.trim() ?? 'unknown',
    memGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${os.release()} ${process.arch}`,
  };
}

/** Drops a benchmark's database once it is done (FerretDB keeps each in its own SQLite file). */
export async function dropDatabase(uri: string): Promise<void> {
  const { MongoClient } = await import('mongodb');
  const client = await MongoClient.connect(uri, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.db().dropDatabase();
  } catch {
    // best effort: the run goes on
  } finally {
    await client.close();
  }
}
