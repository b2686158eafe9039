// What every job handler is given: configuration, a logger and the mail transport, built once per worker.
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { MailTransport } from '../mail/transport.js';

export interface JobContext {
  config: Config;
  log: Logger;
  transport: MailTransport;
}

/** The data of the jobs a status event causes (models/effects.ts: jobsFor). */
export interface StatusEventJobData {
  reservationId: string;
  eventId: string;
}
