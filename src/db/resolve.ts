// Which database a process uses: MONGODB_URI, else the embedded one. `npm start` publishes the embedded
// server's URI in the data folder so CLIs (`create-admin`, `jobs`) reach the same database while it runs.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';
import { isAlive } from '../lib/pid.js';
import { startEmbeddedMongo, type EmbeddedMongo } from './embedded/index.js';

interface Published {
  uri: string;
  pid: number;
}

const fileOf = (c: Config) => path.resolve(c.DATA_DIR, 'embedded.json');

export function publishEmbeddedUri(c: Config, uri: string): () => void {
  const file = fileOf(c);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ uri, pid: process.pid } satisfies Published));
  return () => fs.rmSync(file, { force: true });
}

/** The running embedded database's URI, if `npm start` is up. */
export function runningEmbeddedUri(c: Config): string | undefined {
  try {
    const p = JSON.parse(fs.readFileSync(fileOf(c), 'utf8')) as Published;
    return isAlive(p.pid) ? p.uri : undefined;
  } catch {
    return undefined;
  }
}

/**
 * For CLIs: MONGODB_URI, else the running embedded database, else an embedded one started for the command (in
 * `env`, the process's environment).
 */
export async function resolveDatabase(
  c: Config,
  env: NodeJS.ProcessEnv,
  log: (msg: string) => void,
): Promise<{ uri: string; embedded?: EmbeddedMongo }> {
  if (c.MONGODB_URI) return { uri: c.MONGODB_URI };
  const running = runningEmbeddedUri(c);
  if (running) return { uri: running };
  const embedded = await startEmbeddedMongo({ dataDir: path.resolve(c.DATA_DIR), settings: c, env, log });
  return { uri: embedded.uri, embedded };
}
