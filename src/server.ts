// API entry (`npm start`). With MONGODB_URI: the API server alone (run workers with `npm run worker`).
// Without it: the all-in-one development mode — embedded database, API server and an in-process worker.
import path from 'node:path';
import { config } from './config.js';
import { logger } from './logger.js';
import { startApiServer } from './app.js';
import { connectDatabase, disconnectDatabase } from './db/connect.js';
import { startEmbeddedMongo, type EmbeddedMongo } from './db/embedded.js';
import { onShutdown, runShutdown } from './lib/shutdown.js';

async function main(): Promise<void> {
  const c = config();
  const log = logger();
  let embedded: EmbeddedMongo | undefined;
  let uri = c.MONGODB_URI;
  if (!uri) {
    log.info('MONGODB_URI is not set: starting the all-in-one development mode (embedded database, API, worker)');
    embedded = await startEmbeddedMongo({ dataDir: path.resolve(c.DATA_DIR), log: (msg) => log.info(msg) });
    uri = embedded.uri;
    onShutdown('embedded database', () => embedded!.stop(), 0);
    log.info({ kind: embedded.kind, uri }, 'embedded database ready (data in %s)', path.resolve(c.DATA_DIR));
  }
  await connectDatabase(uri);
  onShutdown('database connection', () => disconnectDatabase(), 1);

  const api = await startApiServer(c);
  onShutdown('api server', () => api.stop(), 3);

  log.info({ url: api.url }, `GraphQL API ready at ${api.url}`);
  if (embedded) process.stdout.write(`\n  GraphQL API and IDE: ${api.url}\n\n`);
}

main().catch((err) => {
  logger().fatal({ err }, 'failed to start');
  void runShutdown(1);
});
