// Starting one MongoDB-compatible server (mongod or FerretDB): its data folder locked, a port, the guarded
// process, and readiness as the driver sees it.
import { mkdir, rm } from 'node:fs/promises';
import { MongoClient } from 'mongodb';
import type { EmbeddedMongo, StartContext } from './context.js';
import { lockDataDir } from './data-dir-lock.js';
import { errorMessage } from './errors.js';
import { failIfExited, outputTail, pause, spawnGuarded, type GuardedProcess } from './guarded-process.js';
import type { EmbeddedKind } from './kinds.js';
import { acceptsConnections } from './ports.js';

export interface ServerSpec {
  kind: EmbeddedKind;
  command: string;
  dir: string;
  readyTimeoutMs: number;
  args: (port: number, dir: string) => string[];
}

export async function startGuardedServer(ctx: StartContext, spec: ServerSpec): Promise<EmbeddedMongo> {
  const { ports } = ctx.host;
  const releaseLock = ctx.ephemeral ? async () => {} : await lockDataDir(`${spec.dir}.lock`);
  try {
    // A picked port can be taken by someone else before the server binds it: pick again, twice.
    for (let attempt = 1; ; attempt++) {
      await mkdir(spec.dir, { recursive: true });
      const port = ctx.port ?? (await ports.pick());
      ports.hold(port);
      const uri = `mongodb://127.0.0.1:${port}/`;
      const started = Date.now();
      ctx.log(`embedded MongoDB: starting ${spec.kind} (${spec.command}) on 127.0.0.1:${port}, data in ${spec.dir}`);
      let proc: GuardedProcess | undefined;
      try {
        proc = await spawnGuarded(spec.command, spec.args(port, spec.dir), {
          env: ctx.env,
          cleanupDir: ctx.ephemeral ? ctx.root : undefined,
        });
        await waitUntilReady(uri, proc, spec.readyTimeoutMs);
      } catch (err) {
        await proc?.stop();
        ports.release(port);
        const clash = proc !== undefined && /address already in use|EADDRINUSE/i.test(proc.output());
        if (clash && ctx.port === undefined && attempt < 3) continue;
        throw err;
      }
      ctx.log(`embedded MongoDB: ${spec.kind} ready at ${uri} in ${Date.now() - started} ms`);
      proc.unref();
      return { uri, kind: spec.kind, pid: proc.pid, dataDir: spec.dir, stop: stopOnce(ctx, proc, port, releaseLock) };
    }
  } catch (err) {
    await releaseLock();
    throw err;
  }
}

/** Stops a started server once, however often asked: its process, then its port, lock and temporary folder. */
export function stopOnce(
  ctx: StartContext,
  proc: GuardedProcess,
  port: number,
  releaseLock: () => Promise<void>,
): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () =>
    (stopping ??= (async () => {
      await proc.stop();
      ctx.host.ports.release(port);
      await releaseLock();
      if (ctx.ephemeral) await rm(ctx.root, { recursive: true, force: true });
    })());
}

async function waitUntilReady(uri: string, proc: GuardedProcess, timeoutMs: number): Promise<void> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  const port = Number(new URL(uri).port);
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    await failIfExited(proc);
    // A plain TCP probe first: the driver, once refused, waits for its next heartbeat before trying again.
    if (!(await acceptsConnections(port))) {
      await pause(proc, 50);
      continue;
    }
    const client = new MongoClient(uri, {
      directConnection: true,
      serverSelectionTimeoutMS: 2000,
      connectTimeoutMS: 2000,
      maxPoolSize: 1,
    });
    const gone = proc.exited.then(() => {
      throw new Error('exited');
    });
    gone.catch(() => {});
    try {
      await Promise.race([client.connect(), gone]);
      // Our own server, or another one holding the port we picked (ours then exits: address in use)? The pid
      // tells. A mismatch that lasts while ours keeps running means a wrapper script started the server.
      const status = await Promise.race([client.db('admin').command({ serverStatus: 1 }), gone]);
      if (Number(status.pid) === proc.pid || Date.now() - started > 5000) return;
      lastError = `port ${port} answered by process ${String(status.pid)}, not ours (${String(proc.pid)})`;
    } catch (err) {
      lastError = errorMessage(err);
    } finally {
      await client.close().catch(() => {});
    }
    await pause(proc, 100);
  }
  throw new Error(`not ready after ${timeoutMs} ms (${lastError})${outputTail(proc)}`);
}
