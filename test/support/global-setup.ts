// Jest global setup: one MongoDB-compatible server for the whole run, unless one is given
// (TEST_MONGODB_URI, else MONGODB_URI). Workers inherit TEST_MONGODB_URI (and TEST_MONGODB_KIND, the embedded
// kind, when it is ours); tests then use their own databases (support/mongo.ts: databaseUri). EMBEDDED_MONGO
// picks the embedded kind as it does for `npm start`.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EmbeddedMongo } from './embedded.js';

declare global {
  var __embeddedMongo: EmbeddedMongo | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (process.env.TEST_MONGODB_URI) return;
  if (process.env.MONGODB_URI) {
    process.env.TEST_MONGODB_URI = process.env.MONGODB_URI;
    return;
  }
  // Jest loads global setup through its CommonJS require hook, where Jest's moduleNameMapper (`.js` → `.ts`)
  // does not apply: require-ts.cjs resolves `./x.js` to `./x.ts` instead.
  const here = path.dirname(fileURLToPath(import.meta.url));
  createRequire(import.meta.url)('./require-ts.cjs');
  const { startEmbedded } = await import('./embedded.js');
  const started = Date.now();
  const mongo = await startEmbedded({
    dataDir: path.join(here, '..', '..', '.data', 'test'),
    ephemeral: true,
    log: (msg) => {
      if (process.env.DEBUG_EMBEDDED_MONGO) process.stderr.write(`${msg}\n`);
    },
  });
  process.stderr.write(`\n[test] ${mongo.kind} at ${mongo.uri} (started in ${Date.now() - started} ms)\n`);
  process.env.TEST_MONGODB_URI = mongo.uri;
  process.env.TEST_MONGODB_KIND = mongo.kind;
  globalThis.__embeddedMongo = mongo;
}
