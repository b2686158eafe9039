// Which database a process uses: MONGODB_URI, else the embedded one. `npm start` publishes the embedded
// server's URI in the data folder so CLIs (`create-admin`, `jobs`) reach the same database while it runs.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';
import { startEmbeddedMongo, type EmbeddedMongo } from './embedded.js';

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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The running embedded database's URI, if `npm start` is up. */
export function runningEmbeddedUri(c: Config): string | undefined {
  try {
    const p = JSON.parse(fs.readFileSync(fileOf(c), 'utf8')) as Published;
    return alive(p.pid) ? p.uri : undefined;
  } catch {
    return undefined;
  }
}

/** For CLIs: MONGODB_URI, else the running embedded database, else an embedded one started for the command. */
export async function resolveDatabase(
  c: Config,
  log: (msg: string) => void,
): Promise<{ uri: string; embedded?: EmbeddedMongo }> {
  if (c.MONGODB_URI) return { uri: c.MONGODB_URI };
  const running = runningEmbeddedUri(c);
  if (running) return { uri: running };
  const embedded = await startEmbeddedMongo({ dataDir: path.resolve(c.DATA_DIR), log });
  return { uri: embedded.uri, embedded };
}
