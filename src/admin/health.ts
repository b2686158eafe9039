// The API server's probes. /healthz: the process is alive and serving HTTP (restart it when this fails).
// /readyz: it can do its work now (send it traffic only when this passes): the database answers a ping, the
// Agenda it schedules jobs through is connected, and it is not shutting down.
import express, { type Router } from 'express';
import type { Agenda } from 'agenda';
import mongoose from 'mongoose';

/** How long a readiness check waits for the database, or for Agenda still connecting: a probe must answer
 *  well inside its own timeout. */
const CHECK_TIMEOUT_MS = 1000;

export interface Readiness {
  status: 'ready' | 'not ready';
  database: 'up' | 'down';
  agenda: 'ready' | 'starting';
  shuttingDown?: true;
}

export function healthRoutes(opts: { agenda: Agenda; isShuttingDown: () => boolean }): Router {
  let agendaReady = false;
  const agendaConnected = opts.agenda.ready.then(() => (agendaReady = true));

  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [up] = await Promise.all([pingDatabase(), agendaReady || within(agendaConnected, CHECK_TIMEOUT_MS)]);
    const body: Readiness = { status: 'not ready', database: up ? 'up' : 'down', agenda: agendaReady ? 'ready' : 'starting' };
    if (opts.isShuttingDown()) body.shuttingDown = true;
    else if (up && agendaReady) body.status = 'ready';
    res
      .status(body.status === 'ready' ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json(body);
  });
  return router;
}

async function pingDatabase(): Promise<boolean> {
  const db = mongoose.connection.readyState === 1 ? mongoose.connection.db : undefined;
  if (!db) return false;
  try {
    await db.admin().command({ ping: 1 }, { timeoutMS: CHECK_TIMEOUT_MS });
    return true;
  } catch {
    return false;
  }
}

/** Waits for `promise` at most `ms` (never rejects). */
function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]).then(
    () => clearTimeout(timer),
    () => clearTimeout(timer),
  );
}
