// API entry (`npm start`). With MONGODB_URI: the API server alone (run workers with `npm run worker`).
// Without it: the all-in-one development mode — embedded database, API server and an in-process worker.
import path from 'node:path';
import { loadConfig } from './config.js';
import { logger } from './logger.js';
import { startApiServer } from './app.js';
import { connectDatabase, disconnectDatabase } from './db/connect.js';
import { startEmbeddedMongo } from './db/embedded/index.js';
import { publishEmbeddedUri } from './db/resolve.js';
import { createShutdown } from './lib/shutdown.js';
import { installProcessGuards } from './lib/process-guards.js';
import { startLiveChannel } from './live/channel.js';
import { createServices } from './services.js';
import { startWorker, workerAgendaName } from './worker.js';

async function main(): Promise<void> {
  const c = loadConfig();
  const log = logger();
  const shutdown = createShutdown(log);
  installProcessGuards(shutdown);
  try {
    let uri = c.MONGODB_URI;
    const allInOne = !uri;
    if (!uri) {
      log.info('MONGODB_URI is not set: starting the all-in-one development mode (embedded database, API, worker)');
      const embedded = await startEmbeddedMongo({
        dataDir: path.resolve(c.DATA_DIR),
        settings: c,
        env: process.env,
        log: (msg) => log.info(msg),
      });
      uri = embedded.uri;
      const unpublish = publishEmbeddedUri(c, embedded.uri);
      shutdown.add('embedded database', async () => {
        unpublish();
        await embedded.stop();
      }, 0);
      log.info({ kind: embedded.kind, uri }, 'embedded database ready (data in %s)', path.resolve(c.DATA_DIR));
    }
    const db = await connectDatabase(uri);
    shutdown.add('database connection', () => disconnectDatabase(), 1);
    // In the all-in-one mode this process is also the worker: its Agenda runs jobs, named like a worker's.
    const services = createServices(c, db, log, allInOne ? { agendaName: workerAgendaName() } : {});
    const live = startLiveChannel({
      publisher: services.publisher,
      log: log.child({ component: 'live' }),
      tail: db.capabilities.tailableCursors,
    });
    shutdown.add('live channel', async () => live.stop(), 2);
    // Before anyone can subscribe: a subscription must see every change made after it started.
    await live.started;
    if (allInOne) {
      const worker = await startWorker(services);
      shutdown.add('worker', () => worker.stop(), 2);
    }
    const api = await startApiServer({ services, hub: live.hub });
    shutdown.add('api server', () => api.stop(), 3);

    log.info({ url: api.url }, `GraphQL API ready at ${api.url}`);
    if (allInOne) process.stdout.write(`\n  GraphQL API and IDE: ${api.url}\n\n`);
  } catch (err) {
    log.fatal({ err }, 'failed to start');
    void shutdown.run(1);
  }
}

void main();
