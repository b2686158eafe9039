// Agendash's live feed (GET …/api/events): server-sent events telling the open dashboard pages when a job starts,
// succeeds or fails, so they refresh at once rather than on their 30-second timer.
//
// Agendash 8 serves this feed only from an Agenda notification channel with state subscriptions
// (`subscribeState`, e.g. Redis or PostgreSQL LISTEN/NOTIFY); without one it answers 501 and the page logs "SSE
// connection error". Agenda's MongoDB channel needs change streams (replica sets only; none on FerretDB), and the
// jobs run in the workers, not in this server. So the feed is read from where every worker records its runs, the
// job documents (lastRunAt, lastFinishedAt, failedAt), by one poll per API server while a page is open, and
// written in Agendash's own format: `event: connected`, then one `data:` message per JobStateNotification.
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { agendaJobs } from '../jobs/agenda.js';

/** How often the open feed reads the job documents. */
const POLL_MS = 1_000;
/**
 * Each read looks this far behind the newest time it has seen: workers stamp their own clocks, and a run stamped
 * a little earlier than one already seen must still be reported. Runs are told apart by job and time.
 */
const OVERLAP_MS = 10_000;
/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 25_000;

interface JobRun {
  _id: unknown;
  name: string;
  lastRunAt?: Date | null;
  lastFinishedAt?: Date | null;
  failedAt?: Date | null;
  failReason?: string | null;
  failCount?: number | null;
}

/** Agenda's JobStateNotification, as Agendash's page reads it. */
interface StateNotification {
  type: 'start' | 'success' | 'fail' | 'complete';
  jobId: string;
  jobName: string;
  timestamp: Date;
  error?: string;
  failCount?: number;
  duration?: number;
  lastRunAt?: Date;
  lastFinishedAt?: Date;
}

export interface JobEventsFeed {
  handler: RequestHandler;
  /** Ends every open stream (the server is shutting down) and stops polling. */
  close(): void;
}

export function jobEventsFeed(log: Logger): JobEventsFeed {
  const clients = new Set<Response>();
  let timer: NodeJS.Timeout | undefined;
  let keepalive: NodeJS.Timeout | undefined;
  let since = new Date();
  let seen = new Map<string, number>();
  let reading = false;

  const send = (notifications: StateNotification[]) => {
    for (const n of notifications) {
      const message = `data: ${JSON.stringify(n)}\n\n`;
      for (const res of clients) res.write(message);
    }
  };

  const poll = async () => {
    if (reading) return;
    reading = true;
    try {
      const from = new Date(since.getTime() - OVERLAP_MS);
      const runs = await agendaJobs()
        .find<JobRun>(
          { $or: [{ lastRunAt: { $gt: from } }, { lastFinishedAt: { $gt: from } }] },
          { projection: { name: 1, lastRunAt: 1, lastFinishedAt: 1, failedAt: 1, failReason: 1, failCount: 1 } },
        )
        .toArray();
      const out: StateNotification[] = [];
      for (const run of runs) out.push(...notificationsOf(run, from, seen));
      out.sort((a, b) => a.timestamp.getTime() - b.timestamp.getTime());
      send(out);
      const newest = Math.max(since.getTime(), ...out.map((n) => n.timestamp.getTime()));
      since = new Date(newest);
      // Forget what fell out of the window.
      seen = new Map([...seen].filter(([, at]) => at > newest - 2 * OVERLAP_MS));
    } catch (err) {
      log.warn({ err }, 'job dashboard feed: reading the jobs failed; trying again');
    } finally {
      reading = false;
    }
  };

  const start = () => {
    since = new Date();
    seen = new Map();
    timer = setInterval(() => void poll(), POLL_MS);
    keepalive = setInterval(() => {
      for (const res of clients) res.write(': keepalive\n\n');
    }, KEEPALIVE_MS);
  };
  const stop = () => {
    clearInterval(timer);
    clearInterval(keepalive);
    timer = keepalive = undefined;
  };

  const handler: RequestHandler = (req: Request, res: Response) => {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no', // nginx: pass each event on at once
    });
    res.write('event: connected\ndata: {"connected":true}\n\n');
    if (clients.size === 0) start();
    clients.add(res);
    req.on('close', () => {
      clients.delete(res);
      if (clients.size === 0) stop();
    });
  };

  return {
    handler,
    close() {
      stop();
      for (const res of clients) res.end();
      clients.clear();
    },
  };
}

/** The start, and the success or failure and completion, of a job's latest run, each once (`seen`). */
function notificationsOf(run: JobRun, from: Date, seen: Map<string, number>): StateNotification[] {
  const jobId = String(run._id);
  const base = { jobId, jobName: run.name };
  const out: StateNotification[] = [];
  const once = (key: string, at: Date, n: StateNotification) => {
    const k = `${jobId}:${key}:${at.getTime()}`;
    if (seen.has(k)) return;
    seen.set(k, at.getTime());
    out.push(n);
  };
  const { lastRunAt, lastFinishedAt, failedAt } = run;
  if (lastRunAt && lastRunAt > from) once('start', lastRunAt, { ...base, type: 'start', timestamp: lastRunAt });
  if (lastFinishedAt && lastFinishedAt > from && (!lastRunAt || lastFinishedAt >= lastRunAt)) {
    const duration = lastRunAt ? lastFinishedAt.getTime() - lastRunAt.getTime() : undefined;
    // Agenda stamps a failure's failedAt and lastFinishedAt with one time.
    const failed = failedAt?.getTime() === lastFinishedAt.getTime();
    once(
      failed ? 'fail' : 'success',
      lastFinishedAt,
      failed
        ? { ...base, type: 'fail', timestamp: lastFinishedAt, error: run.failReason ?? undefined, failCount: run.failCount ?? undefined }
        : { ...base, type: 'success', timestamp: lastFinishedAt },
    );
    once('complete', lastFinishedAt, {
      ...base,
      type: 'complete',
      timestamp: lastFinishedAt,
      ...(duration !== undefined ? { duration, lastRunAt: lastRunAt! } : {}),
      lastFinishedAt,
    });
  }
  return out;
}
