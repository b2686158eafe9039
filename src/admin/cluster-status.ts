// The dashboard's "Agenda Status" (GET …/api/stats) for the whole deployment. Agendash asks the Agenda it was
// given for its processor's own counters, which the API server (it runs no jobs) does not have, and which on a
// worker would cover that one worker only. What an operator wants is every worker's jobs: read them from the
// database, in the shape Agendash's page expects (agenda's AgendaStatus).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Agenda, AgendaStatus } from 'agenda';
import type { RequestHandler } from 'express';

export function clusterStatus(agenda: Agenda): RequestHandler {
  const agendaVersion = readAgendaVersion();
  return async (req, res, next) => {
    try {
      const fullDetails = req.query.fullDetails === 'true';
      const [running, queued, totalQueueSizeDB] = await Promise.all([
        agenda.queryJobs({ state: 'running' }),
        agenda.queryJobs({ state: 'queued' }),
        agenda.db.getQueueSize(),
      ]);
      const status: AgendaStatus = {
        version: agendaVersion,
        queueName: 'all workers',
        totalQueueSizeDB,
        config: {
          totalLockLimit: agenda.attrs.lockLimit,
          maxConcurrency: agenda.attrs.maxConcurrency,
          processEvery: agenda.attrs.processEvery,
        },
        backend: { name: 'MongoDB', hasNotificationChannel: agenda.hasNotificationChannel() },
        internal: { localQueueProcessing: 0 },
        // Agenda counts a job as running from the moment a worker locks it.
        runningJobs: fullDetails ? running.jobs : running.total,
        lockedJobs: fullDetails ? running.jobs : running.total,
        queuedJobs: fullDetails ? queued.jobs : queued.total,
      };
      res.json(status);
    } catch (err) {
      next(err);
    }
  };
}

/** Agenda's version, read from its package once per dashboard. */
function readAgendaVersion(): string {
  try {
    // agenda's exports map hides its package.json; it sits one folder above the entry point.
    const entry = createRequire(import.meta.url).resolve('agenda');
    return (JSON.parse(fs.readFileSync(path.join(path.dirname(entry), '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
