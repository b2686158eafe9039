// API entry (`npm start`). With MONGODB_URI: the API server alone (run workers with `npm run worker`).
// Without it: the all-in-one development mode — embedded database, API server and an in-process worker.
import path from 'node:path';
import { config } from './config.js';
import { logger } from './logger.js';
import { startApiServer } from './app.js';
import { connectDatabase, disconnectDatabase } from './db/connect.js';
import { startEmbeddedMongo, type EmbeddedMongo } from './db/embedded/index.js';
import { publishEmbeddedUri } from './db/resolve.js';
import { onShutdown, runShutdown } from './lib/shutdown.js';
import { installProcessGuards } from './lib/process-guards.js';
import { startLiveChannel } from './live/channel.js';
import { startScheduler } from './jobs/agenda.js';
import { startWorker } from './worker.js';

async function main(): Promise<void> {
  installProcessGuards();
  const c = config();
  const log = logger();
  let embedded: EmbeddedMongo | undefined;
  let uri = c.MONGODB_URI;
  if (!uri) {
    log.info('MONGODB_URI is not set: starting the all-in-one development mode (embedded database, API, worker)');
    embedded = await startEmbeddedMongo({
      dataDir: path.resolve(c.DATA_DIR),
      settings: c,
      env: process.env,
      log: (msg) => log.info(msg),
    });
    uri = embedded.uri;
    const unpublish = publishEmbeddedUri(c, embedded.uri);
    onShutdown('embedded database', async () => {
      unpublish();
      await embedded!.stop();
    }, 0);
    log.info({ kind: embedded.kind, uri }, 'embedded database ready (data in %s)', path.resolve(c.DATA_DIR));
  }
  await connectDatabase(uri);
  onShutdown('database connection', () => disconnectDatabase(), 1);
  const live = startLiveChannel();
  onShutdown('live channel', async () => live.stop(), 2);
  // Before anyone can subscribe: a subscription must see every change made after it started.
  await live.started;
  // Jobs: this server only schedules them for the workers, except in the all-in-one mode where it runs one.
  const jobs = embedded ? await startWorker(c) : startScheduler(c, log.child({ component: 'jobs' }));
  onShutdown(embedded ? 'worker' : 'job scheduler', () => jobs.stop(), 2);

  const api = await startApiServer(c, { agenda: jobs.agenda });
  onShutdown('api server', () => api.stop(), 3);

  log.info({ url: api.url }, `GraphQL API ready at ${api.url}`);
  if (embedded) process.stdout.write(`\n  GraphQL API and IDE: ${api.url}\n\n`);
}

main().catch((err) => {
  logger().fatal({ err }, 'failed to start');
  void runShutdown(1);
});
