// FerretDB 1.24 on its SQLite backend: the last of the `auto` kinds, the one that needs no download of MongoDB.
// Run as `ferretdb --handler=sqlite --sqlite-url=file:<dir>/ --listen-addr=127.0.0.1:<port> --state-dir=<dir>
// --debug-addr=- --telemetry=disable` (DESIGN.md; telemetry off: it must never call out).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EmbeddedMongo, StartContext } from './context.js';
import { ferretdbBinary } from './ferretdb-binary.js';
import { startGuardedServer } from './guarded-server.js';

export async function startFerretdbSqlite(ctx: StartContext): Promise<EmbeddedMongo> {
  const binary = await ferretdbBinary(ctx);
  return startGuardedServer(ctx, {
    kind: 'ferretdb',
    command: binary,
    dir: path.join(ctx.root, 'ferretdb'),
    readyTimeoutMs: 30_000,
    args: (port, dir) => ['--handler=sqlite', `--sqlite-url=${pathToFileURL(dir).href}/`, ...ferretdbArgs(ctx, port, dir)],
  });
}

/** The flags after the backend's: where it listens and keeps its state, no debug listener, no telemetry. */
export function ferretdbArgs(ctx: StartContext, port: number, dir: string): string[] {
  return [
    `--listen-addr=127.0.0.1:${port}`,
    `--state-dir=${dir}`,
    '--debug-addr=-',
    '--telemetry=disable',
    `--log-level=${ctx.settings.FERRETDB_LOG_LEVEL}`,
  ];
}
