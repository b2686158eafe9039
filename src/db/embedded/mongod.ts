// A real mongod: `mongod` on PATH, or MONGOMS_SYSTEM_BINARY (and mongodb-memory-server's, see memory-server.ts).
import path from 'node:path';
import type { EmbeddedMongo, StartContext } from './context.js';
import { findOnPath, isExecutableFile } from './files.js';
import { startGuardedServer } from './guarded-server.js';

export async function startSystemMongod(ctx: StartContext): Promise<EmbeddedMongo> {
  const explicit = ctx.settings.MONGOMS_SYSTEM_BINARY;
  if (explicit) {
    if (!(await isExecutableFile(explicit))) throw new Error(`MONGOMS_SYSTEM_BINARY=${explicit} is not an executable file`);
    return runMongod('mongod', explicit, ctx);
  }
  const onPath = await findOnPath('mongod', ctx.env);
  if (!onPath) throw new Error('no `mongod` on PATH and MONGOMS_SYSTEM_BINARY is not set');
  return runMongod('mongod', onPath, ctx);
}

/** Runs a mongod binary as `mongod --dbpath <root>/<kind> --bind_ip 127.0.0.1 --port P`. */
export function runMongod(kind: 'mongod' | 'memory-server', binary: string, ctx: StartContext): Promise<EmbeddedMongo> {
  return startGuardedServer(ctx, {
    kind,
    command: binary,
    dir: path.join(ctx.root, kind),
    readyTimeoutMs: 60_000,
    args: (port, dir) => ['--dbpath', dir, '--bind_ip', '127.0.0.1', '--port', String(port)],
  });
}
