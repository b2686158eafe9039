// The embedded MongoDB-compatible server for dev mode and tests (DESIGN.md, "Embedded default").
// Resolution: a `mongod` on PATH (or MONGOMS_SYSTEM_BINARY) → a mongod fetched by mongodb-memory-server →
// FerretDB 1.24 on SQLite (built with Go when missing). EMBEDDED_MONGO=mongod|memory-server|ferretdb forces one;
// EMBEDDED_MONGO=ferretdb-postgresql runs FerretDB on a private PostgreSQL cluster instead, never chosen on its
// own: DESIGN.md's next option where SQLite falls short (ferretdb-postgresql.ts).
//
// One file per kind (mongod.ts, memory-server.ts, ferretdb-sqlite.ts, ferretdb-postgresql.ts); every server runs
// under a guardian (guardian.ts, guarded-process.ts), so none outlives the process that started it.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { EmbeddedSettings } from '../../config.js';
import { createEmbeddedHost, type EmbeddedHost, type EmbeddedMongo, type StartContext } from './context.js';
import { errorMessage } from './errors.js';
import { startFerretdbPostgresql } from './ferretdb-postgresql.js';
import { startFerretdbSqlite } from './ferretdb-sqlite.js';
import { AUTO_KINDS, type EmbeddedKind } from './kinds.js';
import { startMemoryServerMongod } from './memory-server.js';
import { startSystemMongod } from './mongod.js';

export { createEmbeddedHost, type EmbeddedHost, type EmbeddedMongo } from './context.js';
export { AUTO_KINDS, EMBEDDED_KINDS, type EmbeddedKind } from './kinds.js';

export interface EmbeddedOptions {
  /** Each kind keeps its files in its own subfolder: `mongod/`, `memory-server/`, `ferretdb/`, `ferretdb-postgresql/`. */
  dataDir: string;
  /** 0 or undefined: pick a free port. */
  port?: number;
  log?: (msg: string) => void;
  /** Tests: a fresh temporary folder instead of `dataDir`, deleted on stop (and by the guardian if we die). */
  ephemeral?: boolean;
  /** EMBEDDED_MONGO, FERRETDB_BIN, …: config.ts's embedded settings (the process's Config, or parseEmbeddedSettings). */
  settings: EmbeddedSettings;
  /** The environment the servers run in, where PATH, HOME, GOPATH and proxies are looked up: usually process.env. */
  env: NodeJS.ProcessEnv;
  /** Shared by servers started side by side (ports, the FerretDB build); by default, this start's own. */
  host?: EmbeddedHost;
}

const STARTERS: Readonly<Record<EmbeddedKind, (ctx: StartContext) => Promise<EmbeddedMongo>>> = Object.freeze({
  mongod: startSystemMongod,
  'memory-server': startMemoryServerMongod,
  ferretdb: startFerretdbSqlite,
  'ferretdb-postgresql': startFerretdbPostgresql,
});

/** Starts the first kind that works (or the one EMBEDDED_MONGO names); throws what each attempt met, and the fixes. */
export async function startEmbeddedMongo(opts: EmbeddedOptions): Promise<EmbeddedMongo> {
  const { settings } = opts;
  const kinds = settings.EMBEDDED_MONGO === 'auto' ? AUTO_KINDS : [settings.EMBEDDED_MONGO];
  const ephemeral = opts.ephemeral === true;
  const root = ephemeral ? await mkdtemp(path.join(os.tmpdir(), 'embedded-mongo-')) : path.resolve(opts.dataDir);
  const ctx: StartContext = {
    root,
    ephemeral,
    port: opts.port || undefined,
    settings,
    env: opts.env,
    log: opts.log ?? (() => {}),
    host: opts.host ?? createEmbeddedHost(),
  };

  const failures: string[] = [];
  for (const kind of kinds) {
    try {
      return await STARTERS[kind](ctx);
    } catch (err) {
      const reason = errorMessage(err);
      failures.push(`${kind}: ${reason}`);
      ctx.log(`embedded MongoDB: ${kind} is not available: ${reason.split('\n', 1)[0]}`);
    }
  }
  if (ephemeral) await rm(root, { recursive: true, force: true });
  throw new Error(
    [
      'Could not start an embedded MongoDB-compatible server. Tried:',
      ...failures.map((f) => `  - ${f.split('\n').join('\n    ')}`),
      'To fix, do one of:',
      '  - set MONGODB_URI to a running MongoDB (mongodb://…);',
      '  - install MongoDB so `mongod` is on PATH (or set MONGOMS_SYSTEM_BINARY to its path);',
      '  - install Go (https://go.dev/dl/) so FerretDB can be built once, or set FERRETDB_BIN to a FerretDB 1.24 binary.',
    ].join('\n'),
  );
}
