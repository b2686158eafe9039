// `npm run jobs -- <command>`: the seed's `celery inspect` / `celery events`, for Agenda's jobs collection.
//
//   list     jobs still to run: running, due, scheduled, recurring, and failed ones awaiting a retry
//   failed   failed jobs, with why, how often, when, and whether a retry is scheduled
//   retry    re-queues a failed job to run now, its failure cleared (a fresh set of attempts)
//   stats    counts per job name and state
//
// States are Agenda's own (computeJobState), so the numbers match Agendash at /admin/jobs. The collection is
// read directly rather than through an Agenda instance: a read-only tool should not connect a job processor.
import { parseArgs } from 'node:util';
import { computeJobState, type JobParameters, type JobState } from 'agenda';
import mongoose, { Types } from 'mongoose';
import { loadConfig } from '../config.js';
import { connectDatabase, disconnectDatabase } from '../db/connect.js';
import { resolveDatabase } from '../db/resolve.js';
import { AGENDA_COLLECTION } from '../jobs/agenda.js';

const USAGE = `usage: npm run jobs -- <command> [options]

commands:
  list [--name <job>] [--limit <n>]     jobs still to run: running, due (queued), scheduled, recurring, retrying
  failed [--name <job>] [--limit <n>]   failed jobs: reason, fail count, last failed at, next retry
  retry <job id>                        run a failed job again now, its failure cleared
  stats                                 job counts per name and state

options:
  --json    machine-readable output (one JSON document on stdout)
  --help    this text`;

/** A job as this tool shows it. */
interface JobView {
  id: string;
  name: string;
  /** Agenda's computed state: running, queued (due), scheduled, repeating, failed, completed. */
  state: JobState;
  nextRunAt: string | null;
  lockedAt: string | null;
  /** The worker (`host:pid`) holding the lock, when one does. */
  lockedBy: string | null;
  lastRunAt: string | null;
  lastFinishedAt: string | null;
  failedAt: string | null;
  failCount: number;
  failReason: string | null;
  repeatInterval: string | null;
  disabled: boolean;
  reservationId: string | null;
}

const STATES = ['scheduled', 'queued', 'running', 'repeating', 'completed', 'failed', 'paused'] as const;
type StatsRow = { name: string; total: number } & Record<(typeof STATES)[number], number>;

class UsageError extends Error {}
class RefusedError extends Error {}

/** A stored job. Agenda writes absent dates as null, hence the loose collection type and this cast on reading. */
type JobDoc = JobParameters & { _id: Types.ObjectId };

const jobs = () => mongoose.connection.collection(AGENDA_COLLECTION);
const asJobs = (docs: unknown) => docs as JobDoc[];
const iso = (d: Date | null | undefined) => (d instanceof Date ? d.toISOString() : null);

function view(doc: JobDoc, now: Date): JobView {
  const data = doc.data as { reservationId?: unknown } | null | undefined;
  return {
    id: doc._id.toString(),
    name: doc.name,
    state: computeJobState(doc, now),
    nextRunAt: iso(doc.nextRunAt),
    lockedAt: iso(doc.lockedAt),
    lockedBy: doc.lockedAt ? (doc.lastModifiedBy ?? null) : null,
    lastRunAt: iso(doc.lastRunAt),
    lastFinishedAt: iso(doc.lastFinishedAt),
    failedAt: iso(doc.failedAt),
    failCount: doc.failCount ?? 0,
    failReason: doc.failReason ?? null,
    repeatInterval: doc.repeatInterval === undefined || doc.repeatInterval === null ? null : String(doc.repeatInterval),
    disabled: doc.disabled === true,
    reservationId: typeof data?.reservationId === 'string' ? data.reservationId : null,
  };
}

/** Jobs that will still run: locked (running) or with a next run time. Soonest first; running ones on top. */
async function listJobs(opts: { name?: string; limit: number }): Promise<{ jobs: JobView[]; total: number }> {
  const filter = { ...(opts.name ? { name: opts.name } : {}), $or: [{ nextRunAt: { $ne: null } }, { lockedAt: { $ne: null } }] };
  const [docs, total] = await Promise.all([
    jobs().find(filter).sort({ nextRunAt: 1, _id: 1 }).limit(opts.limit).toArray().then(asJobs),
    jobs().countDocuments(filter),
  ]);
  const now = new Date();
  const views = docs.map((d) => view(d, now));
  // Running first whatever their next run (a one-off's next run is cleared when it starts).
  return { jobs: [...views.filter((j) => j.state === 'running'), ...views.filter((j) => j.state !== 'running')], total };
}

/** Jobs whose last run failed (a later success clears that), most recent failure first. */
async function failedJobs(opts: { name?: string; limit: number }): Promise<{ jobs: JobView[]; total: number }> {
  const docs = await jobs()
    .find({ ...(opts.name ? { name: opts.name } : {}), failedAt: { $ne: null } })
    .sort({ failedAt: -1, _id: 1 })
    .toArray()
    .then(asJobs);
  const now = new Date();
  const failed = docs.map((d) => view(d, now)).filter((j) => j.state === 'failed');
  return { jobs: failed.slice(0, opts.limit), total: failed.length };
}

/** Counts per job name and state, as Agenda's getJobsOverview (and so Agendash) counts them. */
async function jobStats(): Promise<{ jobs: StatsRow[]; totals: Omit<StatsRow, 'name'> }> {
  const fields = { name: 1, nextRunAt: 1, lockedAt: 1, lastFinishedAt: 1, failedAt: 1, repeatInterval: 1, disabled: 1 };
  const docs = asJobs(await jobs().find({}, { projection: fields }).toArray());
  const now = new Date();
  const empty = () => ({ total: 0, scheduled: 0, queued: 0, running: 0, repeating: 0, completed: 0, failed: 0, paused: 0 });
  const byName = new Map<string, StatsRow>();
  const totals = empty();
  for (const doc of docs) {
    let row = byName.get(doc.name);
    if (!row) byName.set(doc.name, (row = { name: doc.name, ...empty() }));
    const state = computeJobState(doc, now);
    for (const counts of [row, totals]) {
      counts.total += 1;
      counts[state] += 1;
      if (doc.disabled === true && state !== 'paused') counts.paused += 1;
    }
  }
  return { jobs: [...byName.values()].sort((a, b) => a.name.localeCompare(b.name)), totals };
}

/**
 * Makes a failed job due now with its failure cleared, so it gets the full set of attempts again. Refuses a job
 * that is not failed, and one a worker holds (its lock is left alone: the worker's run decides).
 */
async function retryJob(id: string): Promise<{ before: JobView; after: JobView }> {
  if (!/^[0-9a-f]{24}$/i.test(id)) throw new RefusedError(`"${id}" is not a job id (24 hexadecimal characters)`);
  const _id = new Types.ObjectId(id);
  const doc = (await jobs().findOne({ _id })) as JobDoc | null;
  if (!doc) throw new RefusedError(`no job with id ${id}`);
  const before = view(doc, new Date());
  if (before.state !== 'failed') throw new RefusedError(`job ${id} (${before.name}) is ${before.state}, not failed; only failed jobs are retried`);
  const now = new Date();
  const updated = (await jobs().findOneAndUpdate(
    // Unchanged since it was read: not locked by a worker, same failure.
    { _id, lockedAt: null, failedAt: doc.failedAt },
    { $set: { nextRunAt: now, lastModifiedBy: 'jobs-cli' }, $unset: { failedAt: '', failReason: '', failCount: '' } },
    { returnDocument: 'after' },
  )) as JobDoc | null;
  if (!updated) throw new RefusedError(`job ${id} changed while being retried (a worker took it); look again with \`list\``);
  return { before, after: view(updated, now) };
}

// ---- output ------------------------------------------------------------------------------------------------

function when(text: string | null, now = Date.now()): string {
  if (!text) return '-';
  const d = new Date(text);
  const seconds = Math.round((d.getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  const span =
    abs < 60
      ? `${abs}s`
      : abs < 3600
        ? `${Math.floor(abs / 60)}m`
        : abs < 172_800
          ? `${Math.floor(abs / 3600)}h${String(Math.floor((abs % 3600) / 60)).padStart(2, '0')}m`
          : `${Math.floor(abs / 86_400)}d`;
  const relative = abs < 1 ? 'now' : seconds > 0 ? `in ${span}` : `${span} ago`;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}Z (${relative})`;
}

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** A plain-text table: a header row, then one row per item, columns padded to their widest cell. */
function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

function lockText(j: JobView): string {
  if (!j.lockedAt) return '-';
  const running = j.lastRunAt !== null && j.lastRunAt >= j.lockedAt;
  return `${running ? 'running' : 'locked'} by ${j.lockedBy ?? '?'} since ${when(j.lockedAt)}`;
}

function printList(result: { jobs: JobView[]; total: number }): string {
  if (result.jobs.length === 0) return 'No jobs waiting or running.';
  const rows = result.jobs.map((j) => [
    j.id,
    j.name,
    j.disabled ? `${j.state} (paused)` : j.state,
    when(j.nextRunAt),
    lockText(j),
    j.reservationId ?? '-',
  ]);
  return [table(['ID', 'NAME', 'STATE', 'NEXT RUN', 'LOCK', 'RESERVATION'], rows), more(result)].filter(Boolean).join('\n');
}

function printFailed(result: { jobs: JobView[]; total: number }): string {
  if (result.jobs.length === 0) return 'No failed jobs.';
  const rows = result.jobs.map((j) => [
    j.id,
    j.name,
    j.reservationId ?? '-',
    String(j.failCount),
    when(j.failedAt),
    j.nextRunAt ? when(j.nextRunAt) : 'no (gave up)',
    clip((j.failReason ?? '-').replace(/\s+/g, ' '), 80),
  ]);
  return [table(['ID', 'NAME', 'RESERVATION', 'FAILS', 'LAST FAILED', 'RETRY', 'REASON'], rows), more(result), '', 'Run one again: npm run jobs -- retry <ID>']
    .filter((l) => l !== undefined)
    .join('\n');
}

function printStats(stats: Awaited<ReturnType<typeof jobStats>>): string {
  if (stats.jobs.length === 0) return 'No jobs.';
  const cols = ['scheduled', 'queued', 'running', 'repeating', 'completed', 'failed', 'paused', 'total'] as const;
  const rows = [...stats.jobs, { name: 'all jobs', ...stats.totals }].map((r) => [r.name, ...cols.map((c) => String(r[c]))]);
  return table(['NAME', ...cols.map((c) => c.toUpperCase())], rows);
}

const more = (r: { jobs: unknown[]; total: number }) => (r.total > r.jobs.length ? `(${r.total - r.jobs.length} more not shown; raise --limit)` : '');

// ---- entry ---------------------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      name: { type: 'string' },
      limit: { type: 'string', default: '50' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const [command, ...rest] = positionals;
  if (values.help || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!command) throw new UsageError('a command is required');
  if (!['list', 'failed', 'retry', 'stats'].includes(command)) throw new UsageError(`unknown command "${command}"`);
  if (command === 'retry' ? rest.length !== 1 : rest.length > 0) {
    throw new UsageError(command === 'retry' ? 'retry takes exactly one job id' : `unexpected argument "${rest[0]}"`);
  }
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');

  const c = loadConfig();
  const db = await resolveDatabase(c, process.env, (m) => process.stderr.write(`${m}\n`));
  try {
    await connectDatabase(db.uri, { maxPoolSize: 4 });
    const out = (json: unknown, text: string) => process.stdout.write(`${values.json ? JSON.stringify(json, null, 2) : text}\n`);
    switch (command) {
      case 'list': {
        const r = await listJobs({ name: values.name, limit });
        out(r, printList(r));
        break;
      }
      case 'failed': {
        const r = await failedJobs({ name: values.name, limit });
        out(r, printFailed(r));
        break;
      }
      case 'stats': {
        const r = await jobStats();
        out(r, printStats(r));
        break;
      }
      case 'retry': {
        const r = await retryJob(rest[0]!);
        const was = `${r.before.failCount} failure${r.before.failCount === 1 ? '' : 's'}, last: ${clip(r.before.failReason ?? '-', 200)}`;
        out(
          { retried: true, job: r.after, previous: { failCount: r.before.failCount, failReason: r.before.failReason, failedAt: r.before.failedAt } },
          `Re-queued ${r.after.name} job ${r.after.id}${r.after.reservationId ? ` (reservation ${r.after.reservationId})` : ''} to run now; ` +
            `its failure is cleared (was ${was}). A worker picks it up on its next poll.`,
        );
        break;
      }
    }
    return 0;
  } finally {
    await disconnectDatabase();
    await db.embedded?.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`jobs: ${(err as Error).message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`jobs: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
