// FerretDB 1.24 on its PostgreSQL backend, over a PostgreSQL cluster private to us (its own data folder, a free
// loopback port, no Unix socket), guarded like the other servers. Never chosen by `auto`: EMBEDDED_MONGO names it.
//
// Why offer it: FerretDB 1.24 on SQLite filters every update and delete with an expression its `_id` index does
// not cover (`_ferretdb_sjson->'$._id'` against an index on `->"_id"`), so each document written costs a read of
// the whole table, and bulk work grows with the square of the collection (10,000 completions: hours). On
// PostgreSQL the same writes scan jsonb in C, 20 to 35 times faster at 10,000 documents (measured: 4 vs 75 ms
// per updateOne), so 10,000 completions take a minute or two.
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { EmbeddedMongo, StartContext } from './context.js';
import { lockDataDir } from './data-dir-lock.js';
import { errorMessage } from './errors.js';
import { ferretdbBinary } from './ferretdb-binary.js';
import { ferretdbArgs } from './ferretdb-sqlite.js';
import { findOnPath, isExecutableFile, isFile } from './files.js';
import { spawnGuarded, waitForOutput, type Account } from './guarded-process.js';
import { startGuardedServer, stopOnce } from './guarded-server.js';

/** The login role created by initdb; trusted on loopback only, as nothing else can reach this cluster. */
const POSTGRES_ROLE = 'ferretdb';

export async function startFerretdbPostgresql(ctx: StartContext): Promise<EmbeddedMongo> {
  const binary = await ferretdbBinary(ctx);
  const root = path.join(ctx.root, 'ferretdb-postgresql');
  const postgres = await startPostgres(ctx, path.join(root, 'postgres'));
  try {
    // The temporary folder is removed once both servers have stopped, not by the first to stop.
    const server = await startGuardedServer(
      { ...ctx, ephemeral: false },
      {
        kind: 'ferretdb-postgresql',
        command: binary,
        dir: path.join(root, 'ferretdb'),
        readyTimeoutMs: 30_000,
        args: (port, dir) => [
          '--handler=postgresql',
          `--postgresql-url=postgres://${POSTGRES_ROLE}@127.0.0.1:${postgres.port}/postgres`,
          ...ferretdbArgs(ctx, port, dir),
        ],
      },
    );
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
}

async function startPostgres(ctx: StartContext, dir: string): Promise<{ port: number; stop(): Promise<void> }> {
  const { ports } = ctx.host;
  const bin = await findPostgresBin(ctx);
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
      const port = await ports.pick(); // ctx.port is FerretDB's, the one clients see
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
        ports.release(port);
        if (/could not bind|address already in use/i.test(proc.output()) && attempt < 3) continue;
        throw err;
      }
      proc.unref();
      ctx.log(`embedded MongoDB: PostgreSQL ready on 127.0.0.1:${port}`);
      return { port, stop: stopOnce(ctx, proc, port, releaseLock) };
    }
  } catch (err) {
    await releaseLock();
    throw err;
  }
}

/** PostgreSQL's programs: POSTGRES_BIN_DIR, else Debian's newest /usr/lib/postgresql/<version>/bin, else PATH. */
async function findPostgresBin({ settings, env }: StartContext): Promise<string> {
  const explicit = settings.POSTGRES_BIN_DIR;
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
    execFile(command, args, { timeout: 120_000, ...owner }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(command)} failed: ${errorMessage(err)}\n${`${stdout}${stderr}`.trim().split('\n').slice(-10).join('\n')}`));
      else resolve();
    });
  });
}
