// The composition root shared by the entry points (server.ts, worker.ts), the CLIs and the tests: every
// collaborator of the status pipeline made once per process and passed on explicitly.
import type { Agenda } from 'agenda';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Database } from './db/connect.js';
import { AgendaScheduler, createAgenda } from './jobs/agenda.js';
import { LivePublisher } from './live/publisher.js';
import { createStatusService, systemClock, type Clock, type StatusService } from './status/service.js';
import { webhookSubscriptions } from './webhooks/subscriptions.js';

export interface Services {
  config: Config;
  log: Logger;
  db: Database;
  clock: Clock;
  /** The API server schedules through it; a worker also runs it. */
  agenda: Agenda;
  publisher: LivePublisher;
  status: StatusService;
}

export function createServices(
  config: Config,
  db: Database,
  log: Logger,
  opts: { agendaName?: string; clock?: Clock } = {},
): Services {
  const clock = opts.clock ?? systemClock;
  const agenda = createAgenda(config, db, opts.agendaName);
  const publisher = new LivePublisher(log.child({ component: 'live' }));
  const status = createStatusService({
    scheduler: new AgendaScheduler(agenda),
    webhooks: webhookSubscriptions,
    publisher,
    config,
    clock,
    database: db.capabilities,
    log: log.child({ component: 'status' }),
  });
  return { config, log, db, clock, agenda, publisher, status };
}
