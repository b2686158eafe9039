// What every job handler is given, built once per worker: nothing reaches a handler through a module global.
import type { Agenda } from 'agenda';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { MailRenderer } from '../mail/render.js';
import type { MailTransport } from '../mail/transport.js';
import type { CrashHook } from '../status/crash-points.js';
import type { Clock, StatusService } from '../status/service.js';
import type { WebhookRuntime } from '../webhooks/delivery.js';

export interface JobContext {
  agenda: Agenda;
  config: Config;
  log: Logger;
  clock: Clock;
  /** Every status change a job makes (completions, pending effects) goes through it. */
  status: StatusService;
  renderer: MailRenderer;
  transport: MailTransport;
  crash: CrashHook;
  /** The webhook jobs' collaborators (secrets, per-endpoint in-flight counts). */
  webhooks: WebhookRuntime;
}

/** Defines one job on the context's Agenda: each job file exports one. */
export type DefineJob = (ctx: JobContext) => void;
