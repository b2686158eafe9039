// The embedded MongoDB-compatible server for dev mode and tests (DESIGN.md, "Embedded default").
// Resolution: a `mongod` on PATH (or MONGOMS_SYSTEM_BINARY) → a mongod fetched by mongodb-memory-server →
// FerretDB 1.24 on SQLite (built with Go when missing). EMBEDDED_MONGO=mongod|memory-server|ferretdb forces one.
// EMBEDDED_MONGO=ferretdb-postgresql runs FerretDB on a private PostgreSQL cluster instead (Debian's `postgresql`):
// never chosen on its own, it is DESIGN.md's next option where SQLite falls short (volume: see startPostgres).
//
// No orphans: we never spawn the database directly. We spawn a tiny Node "guardian" (GUARDIAN_SOURCE below)
// in its own process group, its stdin a pipe from us; the guardian spawns the database and stops it (SIGTERM,
// then SIGKILL) as soon as that pipe closes. The kernel closes it however we end: stop(), Ctrl-C, SIGTERM,
// an uncaught crash, process.exit() or kill -9. The separate process group keeps a terminal's Ctrl-C away
// from the database, so the app can drain against a live database and then call stop().
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MongoClient } from 'mongodb';

export type EmbeddedKind = 'mongod' | 'memory-server' | 'ferretdb' | 'ferretdb-postgresql';

export interface EmbeddedMongo {
  uri: string;
  kind: EmbeddedKind;
  /** The database process (mongod or ferretdb). */
  pid: number | undefined;
  /** Where its files live (a temporary folder when `ephemeral`). */
  dataDir: string;
  /** Stops the database and waits until its process has exited. Idempotent. */
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Each kind keeps its files in its own subfolder: `mongod/`, `memory-server/`, `ferretdb/`. */
  dataDir: string;
  /** 0 or undefined: pick a free port. */
  port?: number;
  log?: (msg: string) => void;
  /** Tests: a fresh temporary folder instead of `dataDir`, deleted on stop (and by the guardian if we die). */
  ephemeral?: boolean;
  /** Where EMBEDDED_MONGO, FERRETDB_BIN, MONGOMS_SYSTEM_BINARY, PATH… are read from, and the database's environment. */
  env?: NodeJS.ProcessEnv;
}

/** What `auto` tries, in order. */
export const AUTO_KINDS: readonly EmbeddedKind[] = ['mongod', 'memory-server', 'ferretdb'];
export const EMBEDDED_KINDS: readonly EmbeddedKind[] = [...AUTO_KINDS, 'ferretdb-postgresql'];

export async function startEmbeddedMongo(opts: EmbeddedOptions): Promise<EmbeddedMongo> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => {});
  const kinds = kindsToTry(env.EMBEDDED_MONGO);
  const ephemeral = opts.ephemeral === true;
  const root = ephemeral
    ? await mkdtemp(path.join(os.tmpdir(), 'embedded-mongo-'))
    : path.resolve(opts.dataDir);
  const ctx: StartContext = { root, ephemeral, port: opts.port || undefined, env, log };

  const failures: string[] = [];
  for (const kind of kinds) {
    try {
      return await STARTERS[kind](ctx);
    } catch (err) {
      const reason = errorMessage(err);
      failures.push(`${kind}: ${reason}`);
      log(`embedded MongoDB: ${kind} is not available: ${firstLine(reason)}`);
    }
  }
  if (ephemeral) await rm(root, { recursive: true, force: true });
  throw new Error(
    [
      'Could not start an embedded MongoDB-compatible server. Tried:',
      ...failures.map((f) => `  - ${indentRest(f, '    ')}`),
      'To fix, do one of:',
      '  - set MONGODB_URI to a running MongoDB (mongodb://…);',
      '  - install MongoDB so `mongod` is on PATH (or set MONGOMS_SYSTEM_BINARY to its path);',
      '  - install Go (https://go.dev/dl/) so FerretDB can be built once, or set FERRETDB_BIN to a FerretDB 1.24 binary.',
    ].join('\n'),
  );
}

function kindsToTry(forced: string | undefined): readonly EmbeddedKind[] {
  const value = forced?.trim();
  if (!value || value === 'auto') return AUTO_KINDS;
  if ((EMBEDDED_KINDS as readonly string[]).includes(value)) return [value as EmbeddedKind];
  throw new Error(`EMBEDDED_MONGO must be one of ${EMBEDDED_KINDS.join(', ')} or auto (got "${value}")`);
}

interface StartContext {
  root: string;
  ephemeral: boolean;
  port: number | undefined;
  env: NodeJS.ProcessEnv;
  log: (msg: string) => void;
}

const STARTERS: Record<EmbeddedKind, (ctx: StartContext) => Promise<EmbeddedMongo>> = {
  async mongod(ctx) {
    const explicit = ctx.env.MONGOMS_SYSTEM_BINARY?.trim();
    let binary: string | undefined;
    if (explicit) {
      if (!(await isExecutableFile(explicit))) throw new Error(`MONGOMS_SYSTEM_BINARY=${explicit} is not an executable file`);
      binary = explicit;
    } else {
      binary = await findOnPath('mongod', ctx.env);
      if (!binary) throw new Error('no `mongod` on PATH and MONGOMS_SYSTEM_BINARY is not set');
    }
    return startMongod('mongod', binary, ctx);
  },

  // mongodb-memory-server only provides the binary; we run it like any mongod (guardian, readiness check).
  // MongoMemoryServer itself would leave its mongod in our process group (a Ctrl-C stops it while the app
  // drains) and guard against kill -9 with a watchdog that polls every 2 s.
  async 'memory-server'(ctx) {
    const { DryMongoBinary, MongoBinary } = await import('mongodb-memory-server');
    let binary = await DryMongoBinary.locateBinary(DryMongoBinary.getEnsuredOptions());
    if (!binary) {
      const runtimeDownload = (ctx.env.MONGOMS_RUNTIME_DOWNLOAD ?? 'true').toLowerCase();
      if (['false', '0', 'no', 'off'].includes(runtimeDownload)) {
        throw new Error('no cached mongod binary and MONGOMS_RUNTIME_DOWNLOAD is off');
      }
      // Without network mongodb-memory-server retries for seconds (and for minutes where packets are dropped):
      // find out first, in a few seconds at most.
      await probeDownloadHost(ctx.env);
      ctx.log('embedded MongoDB: downloading mongod with mongodb-memory-server (first use, ~100 MB)…');
      binary = await MongoBinary.getPath({});
    }
    return startMongod('memory-server', binary, ctx);
  },

  async ferretdb(ctx) {
    const binary = await ferretdbBinary(ctx);
    return startGuardedServer(ctx, {
      kind: 'ferretdb',
      command: binary,
      dir: path.join(ctx.root, 'ferretdb'),
      readyTimeoutMs: 30_000,
      args: (port, dir) => ['--handler=sqlite', `--sqlite-url=${pathToFileURL(dir).href}/`, ...ferretdbArgs(ctx, port, dir)],
    });
  },

  async 'ferretdb-postgresql'(ctx) {
    const binary = await ferretdbBinary(ctx);
    const root = path.join(ctx.root, 'ferretdb-postgresql');
    const postgres = await startPostgres(ctx, path.join(root, 'postgres'));
    try {
      // The temporary folder is removed once both servers have stopped, not by the first to stop.
      const server = await startGuardedServer({ ...ctx, ephemeral: false }, {
        kind: 'ferretdb-postgresql',
        command: binary,
        dir: path.join(root, 'ferretdb'),
        readyTimeoutMs: 30_000,
        args: (port, dir) => [
          '--handler=postgresql',
          `--postgresql-url=postgres://${POSTGRES_ROLE}@127.0.0.1:${postgres.port}/postgres`,
          ...ferretdbArgs(ctx, port, dir),
        ],
      });
      let stopping: Promise<void> | undefined;
      return {
        ...server,
        stop: () =>
          (stopping ??= (async () => {
            await server.stop();
            await postgres.stop();
          })()),
      };
    } catch (err) {
      await postgres.stop();
      throw err;
    }
  },
};

function ferretdbArgs(ctx: StartContext, port: number, dir: string): string[] {
  return [
    `--listen-addr=127.0.0.1:${port}`,
    `--state-dir=${dir}`,
    '--debug-addr=-',
    '--telemetry=disable',
    ...(ctx.env.FERRETDB_LOG_LEVEL ? [] : ['--log-level=warn']),
  ];
}

async function ferretdbBinary(ctx: StartContext): Promise<string> {
  let binary = await findFerretdb(ctx.env);
  if (!binary) {
    const go = await findOnPath('go', ctx.env);
    if (!go) {
      throw new Error('no FerretDB binary (FERRETDB_BIN unset, none on PATH or in ~/go/bin) and Go is not installed to build one');
    }
    await buildFerretdb(go, ctx);
    binary = await findFerretdb(ctx.env);
    if (!binary) throw new Error('the FerretDB build finished but no `ferretdb` binary was found in the Go bin folder');
  }
  return binary;
}

// ---------------------------------------------------------------------------------------------------------
// The PostgreSQL cluster under FerretDB's PostgreSQL backend: private to us (its own data folder, a free
// loopback port, no Unix socket), guarded like the other servers.
//
// Why offer it: FerretDB 1.24 on SQLite filters every update and delete with an expression its `_id` index does
// not cover (`_ferretdb_sjson->'$._id'` against an index on `->"_id"`), so each document written costs a read of
// the whole table, and bulk work grows with the square of the collection (10,000 completions: hours). On
// PostgreSQL the same writes scan jsonb in C, 20 to 35 times faster at 10,000 documents (measured: 4 vs 75 ms
// per updateOne), so 10,000 completions take a minute or two.

/** The login role created by initdb; trusted on loopback only, as nothing else can reach this cluster. */
const POSTGRES_ROLE = 'ferretdb';

async function startPostgres(ctx: StartContext, dir: string): Promise<{ port: number; stop(): Promise<void> }> {
  const bin = await findPostgresBin(ctx.env);
  // PostgreSQL refuses to run as root: as root, its processes run as the `postgres` account Debian creates.
  const owner = process.getuid?.() === 0 ? await systemAccount('postgres') : undefined;
  const releaseLock = ctx.ephemeral ? async () => {} : await lockDataDir(`${dir}.lock`);
  try {
    if (!(await isFile(path.join(dir, 'PG_VERSION')))) {
      await rm(dir, { recursive: true, force: true }); // an initdb cut off half-way
      await mkdir(path.dirname(dir), { recursive: true });
      await mkdir(dir, { mode: 0o700 });
      if (owner) {
        await chown(dir, owner.uid, owner.gid);
        if (ctx.ephemeral) await chmod(ctx.root, 0o711); // mkdtemp's 0700 would lock the account out
        await assertReachable(path.dirname(dir), owner);
      }
      ctx.log(`embedded MongoDB: creating a PostgreSQL cluster in ${dir}`);
      await run(path.join(bin, 'initdb'), ['-D', dir, '-U', POSTGRES_ROLE, '-A', 'trust', '-E', 'UTF8', ...(ctx.ephemeral ? ['--no-sync'] : [])], owner);
    }
    for (let attempt = 1; ; attempt++) {
      const port = await pickFreePort(); // ctx.port is FerretDB's, the one clients see
      portsInUse.add(port);
      const settings = {
        listen_addresses: '127.0.0.1',
        port: String(port),
        unix_socket_directories: '',
        // FerretDB's pool takes up to 50; room for a second FerretDB and for psql.
        max_connections: '120',
        // A throw-away test cluster need not survive a power cut.
        ...(ctx.ephemeral ? { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } : {}),
      };
      const args = ['-D', dir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
      const proc = await spawnGuarded(path.join(bin, 'postgres'), args, {
        env: ctx.env,
        cleanupDir: ctx.ephemeral ? ctx.root : undefined,
        owner,
        // SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for every client to leave.
        stopSignal: 'SIGINT',
      });
      try {
        await waitForOutput(proc, /database system is ready to accept connections/, 30_000);
      } catch (err) {
        await proc.stop();
        portsInUse.delete(port);
        if (/could not bind|address already in use/i.test(proc.output()) && attempt < 3) continue;
        throw err;
      }
      proc.unref();
      ctx.log(`embedded MongoDB: PostgreSQL ready on 127.0.0.1:${port}`);
      return {
        port,
        stop: async () => {
          await proc.stop();
          portsInUse.delete(port);
          await releaseLock();
          if (ctx.ephemeral) await rm(ctx.root, { recursive: true, force: true });
        },
      };
    }
  } catch (err) {
    await releaseLock();
    throw err;
  }
}

async function waitForOutput(proc: GuardedProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(proc.output())) {
    if (proc.exitInfo) {
      await proc.exited;
      throw new Error(`exited during start-up (${describeExit(proc.exitInfo)})${outputTail(proc)}`);
    }
    if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms${outputTail(proc)}`);
    await Promise.race([delay(50), proc.exited]);
  }
}

/** PostgreSQL's programs: POSTGRES_BIN_DIR, else Debian's newest /usr/lib/postgresql/<version>/bin, else PATH. */
async function findPostgresBin(env: NodeJS.ProcessEnv): Promise<string> {
  const explicit = env.POSTGRES_BIN_DIR?.trim();
  if (explicit) {
    if (await isExecutableFile(path.join(explicit, 'initdb'))) return explicit;
    throw new Error(`POSTGRES_BIN_DIR=${explicit} has no initdb`);
  }
  const debian = '/usr/lib/postgresql';
  const versions = await readdir(debian).catch(() => [] as string[]);
  for (const version of versions.sort((a, b) => Number(b) - Number(a))) {
    if (await isExecutableFile(path.join(debian, version, 'bin', 'initdb'))) return path.join(debian, version, 'bin');
  }
  const initdb = await findOnPath('initdb', env);
  if (initdb) return path.dirname(initdb);
  throw new Error("PostgreSQL is not installed (no initdb): install Debian's `postgresql`, or set POSTGRES_BIN_DIR");
}

interface Account {
  uid: number;
  gid: number;
}

async function systemAccount(name: string): Promise<Account> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const fields = passwd.split('\n').map((line) => line.split(':')).find((f) => f[0] === name);
  if (!fields) throw new Error(`running as root, and there is no \`${name}\` account to run PostgreSQL as (Debian's postgresql package creates it)`);
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** PostgreSQL's account must be able to pass through every folder above its data; say which one it cannot. */
async function assertReachable(dir: string, account: Account): Promise<void> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const { mode, uid, gid } = await stat(d);
    const searchable = uid === account.uid ? mode & 0o100 : gid === account.gid ? mode & 0o010 : mode & 0o001;
    if (!searchable) {
      throw new Error(
        `PostgreSQL runs as the \`postgres\` account here (we are root), which cannot enter ${d}: ` +
          'set DATA_DIR to a folder it can reach, make that folder searchable (chmod o+x), or run as another user',
      );
    }
    if (path.dirname(d) === d) return;
  }
}

function run(command: string, args: string[], owner: Account | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 120_000, ...(owner ?? {}) }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(command)} failed: ${errorMessage(err)}\n${`${stdout}${stderr}`.trim().split('\n').slice(-10).join('\n')}`));
      else resolve();
    });
  });
}

function startMongod(kind: 'mongod' | 'memory-server', binary: string, ctx: StartContext): Promise<EmbeddedMongo> {
  return startGuardedServer(ctx, {
    kind,
    command: binary,
    dir: path.join(ctx.root, kind),
    readyTimeoutMs: 60_000,
    args: (port, dir) => ['--dbpath', dir, '--bind_ip', '127.0.0.1', '--port', String(port)],
  });
}

// ---------------------------------------------------------------------------------------------------------
// Starting one server: data dir, port, guardian, readiness.

interface ServerSpec {
  kind: EmbeddedKind;
  command: string;
  dir: string;
  readyTimeoutMs: number;
  args: (port: number, dir: string) => string[];
}

const portsInUse = new Set<number>();

async function startGuardedServer(ctx: StartContext, spec: ServerSpec): Promise<EmbeddedMongo> {
  const releaseLock = ctx.ephemeral ? async () => {} : await lockDataDir(`${spec.dir}.lock`);
  try {
    // A picked port can be taken by someone else before the server binds it: pick again, twice.
    for (let attempt = 1; ; attempt++) {
      await mkdir(spec.dir, { recursive: true });
      const port = ctx.port ?? (await pickFreePort());
      portsInUse.add(port);
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
        portsInUse.delete(port);
        const clash = proc !== undefined && /address already in use|EADDRINUSE/i.test(proc.output());
        if (clash && ctx.port === undefined && attempt < 3) continue;
        throw err;
      }
      ctx.log(`embedded MongoDB: ${spec.kind} ready at ${uri} in ${Date.now() - started} ms`);
      const running = proc;
      running.unref();
      let stopping: Promise<void> | undefined;
      return {
        uri,
        kind: spec.kind,
        pid: running.pid,
        dataDir: spec.dir,
        stop() {
          stopping ??= (async () => {
            await running.stop();
            portsInUse.delete(port);
            await releaseLock();
            if (ctx.ephemeral) await rm(ctx.root, { recursive: true, force: true });
          })();
          return stopping;
        },
      };
    }
  } catch (err) {
    await releaseLock();
    throw err;
  }
}

async function waitUntilReady(uri: string, proc: GuardedProcess, timeoutMs: number): Promise<void> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  const port = Number(new URL(uri).port);
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (proc.exitInfo) {
      await proc.exited; // all its output read
      throw new Error(`exited during start-up (${describeExit(proc.exitInfo)})${outputTail(proc)}`);
    }
    // A plain TCP probe first: the driver, once refused, waits for its next heartbeat before trying again.
    if (!(await acceptsConnections(port))) {
      await Promise.race([delay(50), proc.exited]);
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
    await Promise.race([delay(100), proc.exited]);
  }
  throw new Error(`not ready after ${timeoutMs} ms (${lastError})${outputTail(proc)}`);
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function pickFreePort(): Promise<number> {
  return (async () => {
    for (let i = 0; i < 20; i++) {
      const port = await new Promise<number>((resolve, reject) => {
        const server = net.createServer();
        server.unref();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
          const { port: p } = server.address() as net.AddressInfo;
          server.close(() => resolve(p));
        });
      });
      if (!portsInUse.has(port)) return port;
    }
    throw new Error('could not find a free TCP port on 127.0.0.1');
  })();
}

// One server per data folder: a second one on the same SQLite files (or a second mongod) would fail or,
// worse, corrupt them. The lock names our pid; a lock whose pid is gone is stale and taken over.
const lockedDirs = new Set<string>();

async function lockDataDir(lockPath: string): Promise<() => Promise<void>> {
  await mkdir(path.dirname(lockPath), { recursive: true });
  if (lockedDirs.has(lockPath)) throw new Error(`${path.dirname(lockPath)} is already used by an embedded server in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx' });
      lockedDirs.add(lockPath);
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        lockedDirs.delete(lockPath);
        await unlink(lockPath).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) {
        throw new Error(
          `its data folder is in use by process ${owner} (another \`npm start\`?); stop that process, ` +
            `or delete ${lockPath} if it is not an embedded server`,
        );
      }
      await unlink(lockPath).catch(() => {});
    }
  }
  throw new Error(`could not lock ${lockPath}`);
}

// ---------------------------------------------------------------------------------------------------------
// The guardian. Plain CommonJS run with `node -e`, so it needs no build step and works from src/ and dist/.
// argv[1]: JSON {command, args, cleanupDir, killAfterMs, owner?: {uid, gid}, stopSignal?}. fd 3: JSON lines back to us (spawned, error, exit).

const GUARDIAN_SOURCE = String.raw`
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const spec = JSON.parse(process.argv[process.argv.length - 1]);
const send = (msg) => { try { fs.writeSync(3, JSON.stringify(msg) + '\n'); } catch {} };
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
let finished = false;
const finish = () => {
  if (finished) return;
  finished = true;
  if (spec.cleanupDir) { try { fs.rmSync(spec.cleanupDir, { recursive: true, force: true, maxRetries: 5 }); } catch {} }
  process.exit(0);
};
const db = spawn(spec.command, spec.args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true, ...(spec.owner || {}) });
db.stdout.on('data', (d) => process.stdout.write(d));
db.stderr.on('data', (d) => process.stderr.write(d));
db.on('spawn', () => send({ type: 'spawned', pid: db.pid }));
db.on('error', (err) => { send({ type: 'error', message: String((err && err.message) || err) }); finish(); });
db.on('exit', (code, signal) => {
  // 'close' comes once its output is all forwarded, unless a grandchild holds the pipes open.
  const done = () => { send({ type: 'exit', code, signal }); finish(); };
  db.once('close', done);
  setTimeout(done, 500);
});
let stopping = false;
const shutdown = () => {
  if (stopping) return;
  stopping = true;
  if (db.exitCode !== null || db.signalCode !== null) return;
  db.kill(spec.stopSignal || 'SIGTERM');
  setTimeout(() => db.kill('SIGKILL'), spec.killAfterMs);
};
process.stdin.on('data', () => {});
process.stdin.on('end', shutdown);
process.stdin.on('close', shutdown);
process.stdin.on('error', shutdown);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, shutdown);
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) shutdown(); }, 1000).unref();
`;

const KILL_AFTER_MS = 10_000;

interface ExitInfo {
  code: number | null;
  signal: string | null;
  error?: string;
}

interface GuardedProcess {
  pid: number | undefined;
  exitInfo: ExitInfo | undefined;
  /** Resolves when the guardian (hence the database) has exited. */
  exited: Promise<void>;
  output(): string;
  stop(): Promise<void>;
  /**
   * Once running, the server must not keep our process alive on its own: if we exit without stop(), the
   * pipe closes and the guardian stops the database.
   */
  unref(): void;
}

async function spawnGuarded(
  command: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; cleanupDir?: string; owner?: Account; stopSignal?: NodeJS.Signals },
): Promise<GuardedProcess> {
  const { NODE_OPTIONS: _ignored, ...env } = opts.env;
  const spec = { command, args, cleanupDir: opts.cleanupDir, killAfterMs: KILL_AFTER_MS, owner: opts.owner, stopSignal: opts.stopSignal };
  const guardian: ChildProcess = spawn(process.execPath, ['-e', GUARDIAN_SOURCE, '--', JSON.stringify(spec)], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    // Its own process group: a terminal's Ctrl-C reaches us, not the database; we decide when it stops.
    detached: process.platform !== 'win32',
    env,
    windowsHide: true,
  });

  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-8192);
  };
  const stdin = guardian.stdin as Writable;
  const [, stdout, stderr, control] = guardian.stdio as unknown as [Writable, Readable, Readable, Readable];
  for (const stream of [stdin, stdout, stderr, control]) stream.on('error', () => {});
  stdout.on('data', keep);
  stderr.on('data', keep);

  const proc: GuardedProcess = {
    pid: undefined,
    exitInfo: undefined,
    // 'close', not 'exit': by then the database's last words on fd 3 have been read.
    exited: new Promise<void>((resolve) => guardian.once('close', () => resolve())),
    output: () => tail,
    stop: () => stopGuardian(),
    unref() {
      guardian.unref();
      for (const stream of [stdin, stdout, stderr, control]) (stream as Partial<net.Socket>).unref?.();
    },
  };

  const spawned = new Promise<void>((resolve, reject) => {
    createInterface({ input: control }).on('line', (line) => {
      let msg: { type?: string; pid?: number; code?: number | null; signal?: string | null; message?: string };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      if (msg.type === 'spawned') {
        proc.pid = msg.pid;
        resolve();
      } else if (msg.type === 'error') {
        proc.exitInfo = { code: null, signal: null, error: msg.message };
        reject(new Error(`could not run ${command}: ${msg.message ?? 'unknown error'}`));
      } else if (msg.type === 'exit') {
        proc.exitInfo = { code: msg.code ?? null, signal: msg.signal ?? null };
      }
    });
    guardian.once('error', reject);
    guardian.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      proc.exitInfo ??= { code, signal, error: 'the guardian process exited' };
      reject(new Error(`the guardian process exited early (${describeExit(proc.exitInfo)})${outputTail(proc)}`));
    });
  });

  let stopping: Promise<void> | undefined;
  function stopGuardian(): Promise<void> {
    stopping ??= (async () => {
      guardian.ref(); // keep the event loop alive until the database is really gone
      stdin.end();
      const dbPid = proc.pid;
      const timer = setTimeout(() => {
        if (dbPid) tryKill(dbPid, 'SIGKILL');
        guardian.kill('SIGKILL');
      }, KILL_AFTER_MS + 5000);
      await proc.exited;
      clearTimeout(timer);
    })();
    return stopping;
  }

  try {
    await spawned;
  } catch (err) {
    await stopGuardian();
    throw err;
  }
  return proc;
}

function describeExit(info: ExitInfo): string {
  const how = info.signal ? `signal ${info.signal}` : info.code !== null ? `exit code ${info.code}` : '';
  return [info.error, how].filter(Boolean).join(', ');
}

function outputTail(proc: GuardedProcess): string {
  const lines = proc.output().trimEnd().split('\n').slice(-15).join('\n');
  return lines ? `; last output:\n${lines}` : '';
}

// ---------------------------------------------------------------------------------------------------------
// Finding and building binaries.

async function findFerretdb(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const explicit = env.FERRETDB_BIN?.trim();
  if (explicit) {
    if (await isExecutableFile(explicit)) return explicit;
    throw new Error(`FERRETDB_BIN=${explicit} is not an executable file`);
  }
  const exe = process.platform === 'win32' ? 'ferretdb.exe' : 'ferretdb';
  const onPath = await findOnPath('ferretdb', env);
  if (onPath) return onPath;
  const dirs = [
    env.FERRETDB_INSTALL_DIR, // where scripts/install-ferretdb.sh puts it when set
    env.GOBIN,
    ...(env.GOPATH ?? '').split(path.delimiter).map((p) => p && path.join(p, 'bin')),
    path.join(env.HOME || os.homedir(), 'go', 'bin'),
  ].filter((d): d is string => Boolean(d));
  for (const dir of dirs) {
    if (await isExecutableFile(path.join(dir, exe))) return path.join(dir, exe);
  }
  const go = await findOnPath('go', env);
  const gopath = go ? await goEnv(go, 'GOPATH', env) : undefined;
  for (const p of gopath?.split(path.delimiter) ?? []) {
    if (p && (await isExecutableFile(path.join(p, 'bin', exe)))) return path.join(p, 'bin', exe);
  }
  return undefined;
}

let ferretdbBuild: Promise<void> | undefined;

function buildFerretdb(go: string, ctx: StartContext): Promise<void> {
  ferretdbBuild ??= (async () => {
    const script = path.join(await packageRoot(), 'scripts', 'install-ferretdb.sh');
    if (!(await isFile(script))) throw new Error(`cannot build FerretDB: ${script} is missing`);
    ctx.log('embedded MongoDB: building FerretDB 1.24 with Go, once per machine (a few minutes)…');
    const started = Date.now();
    const env = { ...ctx.env, PATH: [path.dirname(go), ctx.env.PATH].filter(Boolean).join(path.delimiter) };
    const child = spawn('bash', [script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        tail = `${tail}${line}\n`.slice(-4096);
        ctx.log(line.startsWith('install-ferretdb:') ? line : `install-ferretdb: ${line}`);
      });
    }
    const heartbeat = setInterval(
      () => ctx.log(`embedded MongoDB: still building FerretDB (${Math.round((Date.now() - started) / 1000)} s)…`),
      30_000,
    );
    try {
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (c, s) => resolve([c, s]));
      });
      if (code !== 0) {
        throw new Error(`building FerretDB failed (${signal ? `signal ${signal}` : `exit code ${code}`}):\n${tail.trimEnd()}`);
      }
      ctx.log(`embedded MongoDB: FerretDB built in ${Math.round((Date.now() - started) / 1000)} s`);
    } finally {
      clearInterval(heartbeat);
    }
  })().catch((err: unknown) => {
    ferretdbBuild = undefined; // a later attempt may succeed (e.g. network back)
    throw err;
  });
  return ferretdbBuild;
}

/** The folder holding package.json, found from this module (src/db/ under Jest, dist/src/db/ when built). */
async function packageRoot(): Promise<string> {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (await isFile(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find package.json above the embedded-MongoDB module');
    dir = parent;
  }
}

async function goEnv(go: string, name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(go, ['env', name], { env, timeout: 10_000 }, (err, stdout) => resolve(err ? undefined : stdout.trim() || undefined));
  });
}

async function findOnPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const exts = process.platform === 'win32' ? (env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';') : [''];
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext);
      if (await isExecutableFile(candidate)) return candidate;
    }
  }
  return undefined;
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

async function isFile(file: string): Promise<boolean> {
  return stat(file).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** Can the MongoDB download host be reached? Throws the reason if not (within ~5 s). */
async function probeDownloadHost(env: NodeJS.ProcessEnv): Promise<void> {
  // Behind a proxy, mongodb-memory-server connects through it; a direct probe would prove nothing.
  if (env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy || env.ALL_PROXY || env.all_proxy) return;
  const base = env.MONGOMS_DOWNLOAD_URL || env.MONGOMS_DOWNLOAD_MIRROR || 'https://fastdl.mongodb.org';
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    return; // let mongodb-memory-server report its own error
  }
  const port = Number(url.port) || (url.protocol === 'http:' ? 80 : 443);
  const host = url.hostname;
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host, port });
    const fail = (reason: string) => {
      socket.destroy();
      reject(new Error(`cannot reach ${host}:${port} to download mongod (${reason}); nothing is cached yet`));
    };
    const timer = setTimeout(() => fail('no answer within 5 s'), 5000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(err.code ?? err.message);
    });
  });
}

// ---------------------------------------------------------------------------------------------------------

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}

function indentRest(text: string, indent: string): string {
  return text.split('\n').join(`\n${indent}`);
}
