import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import mongoose from 'mongoose';
import { connectDatabase, disconnectDatabase } from '../src/db/connect.js';
import { createEmbeddedHost, EMBEDDED_KINDS } from '../src/db/embedded/index.js';
import { isAlive } from '../src/lib/pid.js';
import { startEmbedded } from './support/embedded.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const childScript = path.join(here, 'support', 'embedded-child.cjs');

/**
 * The FerretDB binary the resolver runs, found by starting it (which builds one with Go where there is none, as
 * `npm start` would): a machine that has none and cannot build one fails the test that needs it, never skips it.
 */
async function ferretdbBinary(dataDir: string): Promise<string> {
  const db = await startEmbedded({ dataDir, ephemeral: true, env: { ...process.env, EMBEDDED_MONGO: 'ferretdb' } });
  try {
    return readlinkSync(`/proc/${db.pid}/exe`);
  } finally {
    await db.stop();
  }
}

/** `promise`, or a failure naming `what` if it has not settled within `ms`: a generous deadline, not a timing. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const portOf = (uri: string) => Number(new URL(uri).port);

/** Resolves true once nothing listens on the port any more. */
function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Command lines of the running processes that name a path under `dir` (the database servers started there). */
function serverProcessesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(dir) && !cmdline.includes('node')) found.push(cmdline);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function withClient<T>(uri: string, fn: (client: MongoClient) => Promise<T>): Promise<T> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 3000 });
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.close();
  }
}

/**
 * mongodb-memory-server reads its settings from process.env only. A version no machine has cached makes it
 * need a download, whatever is in ~/.cache/mongodb-binaries.
 */
async function withUncachedMongodVersion<T>(fn: () => Promise<T>): Promise<T> {
  const saved = process.env.MONGOMS_VERSION;
  process.env.MONGOMS_VERSION = '6.0.99';
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.MONGOMS_VERSION;
    else process.env.MONGOMS_VERSION = saved;
  }
}

/** Starts test/support/embedded-child.cjs, which owns an embedded server and prints its details. */
async function startOwnerProcess(mode: 'wait' | 'crash') {
  const child = spawn(process.execPath, [childScript, mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`owner process exited (${code}) before starting:\n${stderr}`)));
  });
  const info = JSON.parse(line) as { uri: string; pid: number; dataDir: string; kind: string };
  return { child, info };
}

describe('embedded MongoDB', () => {
  const logs: string[] = [];
  const log = (msg: string) => logs.push(msg);
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'embedded-test-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  test('starts a server that a driver and Mongoose can write to and read from; stop() frees the port', async () => {
    const mongo = await startEmbedded({ dataDir: scratch, ephemeral: true, log });
    expect(EMBEDDED_KINDS).toContain(mongo.kind);
    expect(mongo.uri).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\/$/);
    expect(logs.join('\n')).toContain(`${mongo.kind} ready at ${mongo.uri}`);

    await withClient(mongo.uri, async (client) => {
      const coll = client.db('embedded_test').collection<{ _id: string; n: number }>('things');
      await coll.insertOne({ _id: 'a', n: 1 });
      expect(await coll.findOne({ _id: 'a' })).toEqual({ _id: 'a', n: 1 });
    });

    await connectDatabase(mongo.uri, { dbName: 'embedded_mongoose' });
    try {
      const Thing = mongoose.model('EmbeddedThing', new mongoose.Schema({ name: { type: String, unique: true } }));
      await Thing.init();
      await Thing.create({ name: 'x' });
      expect((await Thing.findOne({ name: 'x' }).lean())?.name).toBe('x');
      await expect(Thing.create({ name: 'x' })).rejects.toMatchObject({ code: 11000 });
    } finally {
      await disconnectDatabase();
    }

    const port = portOf(mongo.uri);
    await Promise.all([mongo.stop(), mongo.stop()]);
    expect(await refusesConnections(port)).toBe(true);
    expect(mongo.pid).toEqual(expect.any(Number));
    expect(isAlive(mongo.pid!)).toBe(false);
    expect(existsSync(mongo.dataDir)).toBe(false);
    await mongo.stop(); // still fine afterwards
  });

  test('servers started side by side get their own port and folder', async () => {
    const host = createEmbeddedHost();
    const servers = await Promise.all([1, 2, 3].map(() => startEmbedded({ dataDir: scratch, ephemeral: true, host })));
    try {
      expect(new Set(servers.map((s) => s.uri)).size).toBe(3);
      expect(new Set(servers.map((s) => s.dataDir)).size).toBe(3);
      await Promise.all(
        servers.map((s, i) =>
          withClient(s.uri, async (c) => {
            await c.db('side').collection('by').insertOne({ i });
            expect(await c.db('side').collection('by').countDocuments()).toBe(1);
          }),
        ),
      );
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  });

  test('a data folder keeps its data across restarts and serves one server at a time', async () => {
    const dataDir = path.join(scratch, 'persistent');
    const first = await startEmbedded({ dataDir });
    try {
      expect(first.dataDir).toBe(path.join(dataDir, first.kind));
      await withClient(first.uri, (c) => c.db('keep').collection('me').insertOne({ _id: 1 as never, kept: true }));
      await expect(startEmbedded({ dataDir, env: { ...process.env, EMBEDDED_MONGO: first.kind } })).rejects.toThrow(
        new RegExp(`in use by process ${process.pid}|already used by an embedded server in this process`),
      );
    } finally {
      await first.stop();
    }
    const second = await startEmbedded({ dataDir, env: { ...process.env, EMBEDDED_MONGO: first.kind } });
    try {
      const doc = await withClient(second.uri, (c) => c.db('keep').collection('me').findOne({}));
      expect(doc).toEqual({ _id: 1, kept: true });
    } finally {
      await second.stop();
    }
  });

  test.each([
    ['is killed with kill -9', 'wait', 'SIGKILL'],
    ['is terminated (SIGTERM)', 'wait', 'SIGTERM'],
    ['dies of an uncaught exception', 'crash', undefined],
  ] as const)('the database dies with its owner process when that process %s', async (_, mode, signal) => {
    const { child, info } = await startOwnerProcess(mode);
    const port = portOf(info.uri);
    await withClient(info.uri, (c) => c.db('admin').command({ ping: 1 }));
    if (signal) child.kill(signal);
    await waitFor('the owner process to exit', () => child.exitCode !== null || child.signalCode !== null);

    await waitFor(`port ${port} to refuse connections`, () => refusesConnections(port));
    await waitFor(`database pid ${info.pid} to exit`, () => !isAlive(info.pid));
    await waitFor('the ephemeral data folder to be removed', () => !existsSync(info.dataDir));
  });

  test('a mongod from MONGOMS_SYSTEM_BINARY runs as `mongod --dbpath <dataDir>/mongod --bind_ip 127.0.0.1 --port P`', async () => {
    // A stand-in mongod: records its arguments, then becomes FerretDB (exec keeps the pid) on the same port.
    const fake = path.join(scratch, 'fake-mongod.sh');
    const argsFile = path.join(scratch, 'fake-mongod.args');
    await writeFile(
      fake,
      [
        '#!/bin/sh',
        'echo "$@" > "$FAKE_ARGS_FILE"',
        'while [ $# -gt 0 ]; do case "$1" in --dbpath) dir=$2; shift 2;; --port) port=$2; shift 2;; *) shift;; esac; done',
        'exec "$FAKE_FERRETDB" --handler=sqlite --sqlite-url=file:$dir/ --listen-addr=127.0.0.1:$port --state-dir=$dir --debug-addr=- --telemetry=disable',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const dataDir = path.join(scratch, 'with-mongod');
    const mongo = await startEmbedded({
      dataDir,
      env: {
        ...process.env,
        MONGOMS_SYSTEM_BINARY: fake,
        FAKE_ARGS_FILE: argsFile,
        FAKE_FERRETDB: await ferretdbBinary(scratch),
      },
    });
    try {
      expect(mongo.kind).toBe('mongod');
      expect(mongo.dataDir).toBe(path.join(dataDir, 'mongod'));
      expect((await readFile(argsFile, 'utf8')).trim()).toBe(
        `--dbpath ${path.join(dataDir, 'mongod')} --bind_ip 127.0.0.1 --port ${portOf(mongo.uri)}`,
      );
      await withClient(mongo.uri, (c) => c.db('admin').command({ ping: 1 }));
    } finally {
      await mongo.stop();
    }
    expect(await refusesConnections(portOf(mongo.uri))).toBe(true);
  }, 600_000); // building FerretDB, where it has to be built, takes minutes

  test('names every option it tried, and the fixes, when no server can start', async () => {
    const attempt = within(withUncachedMongodVersion(() =>
      startEmbedded({
        dataDir: scratch,
        ephemeral: true,
        env: { PATH: '', HOME: scratch, FERRETDB_BIN: path.join(scratch, 'no-such-ferretdb') },
      }),
    ), 45_000, 'giving up');
    await expect(attempt).rejects.toThrow(/mongod: no `mongod` on PATH/);
    await expect(attempt).rejects.toThrow(/memory-server: /);
    await expect(attempt).rejects.toThrow(/ferretdb: FERRETDB_BIN=.*no-such-ferretdb is not an executable file/);
    await expect(attempt).rejects.toThrow(/set MONGODB_URI/);
  });

  test('a server that dies while starting is reported with its exit code and last output', async () => {
    const fake = path.join(scratch, 'fake-ferretdb.sh');
    await writeFile(fake, '#!/bin/sh\necho "boom: cannot start" >&2\nexit 3\n', { mode: 0o755 });
    const attempt = startEmbedded({
      dataDir: scratch,
      ephemeral: true,
      env: { ...process.env, EMBEDDED_MONGO: 'ferretdb', FERRETDB_BIN: fake },
    });
    await expect(attempt).rejects.toThrow(/ferretdb: exited during start-up \(exit code 3\); last output:\n\s*boom: cannot start/);
  });

  test('a port that is already taken fails with the server\'s own words', async () => {
    const blocker = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const attempt = startEmbedded({
        dataDir: scratch,
        ephemeral: true,
        port,
        env: { ...process.env, EMBEDDED_MONGO: 'ferretdb' },
      });
      await expect(attempt).rejects.toThrow(/exited during start-up[\s\S]*address already in use/);
    } finally {
      blocker.close();
    }
  });

  // Gives up on the download host rather than on a download's own (minutes-long) retries.
  test('EMBEDDED_MONGO=memory-server gives up when mongod cannot be downloaded, naming the host', async () => {
    const { HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy, ALL_PROXY, all_proxy, ...env } = process.env;
    void [HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy, ALL_PROXY, all_proxy];
    const attempt = within(withUncachedMongodVersion(() =>
      startEmbedded({
        dataDir: scratch,
        ephemeral: true,
        env: { ...env, EMBEDDED_MONGO: 'memory-server', MONGOMS_DOWNLOAD_URL: 'https://fastdl.invalid/x.tgz' },
      }),
    ), 45_000, 'giving up');
    await expect(attempt).rejects.toThrow(/memory-server: cannot reach fastdl\.invalid:443 to download mongod/);
    await expect(attempt).rejects.not.toThrow(/ferretdb:/);
  });

  test('rejects an unknown EMBEDDED_MONGO value', async () => {
    await expect(
      startEmbedded({ dataDir: scratch, ephemeral: true, env: { ...process.env, EMBEDDED_MONGO: 'postgres' } }),
    ).rejects.toThrow('EMBEDDED_MONGO must be one of mongod, memory-server, ferretdb, ferretdb-postgresql or auto (got "postgres")');
  });

  test('EMBEDDED_MONGO=ferretdb-postgresql: FerretDB on a private PostgreSQL cluster keeps its data; stop() ends both', async () => {
    const dataDir = path.join(scratch, 'on-postgresql');
    const env = { ...process.env, EMBEDDED_MONGO: 'ferretdb-postgresql' };
    // A folder the account running PostgreSQL cannot enter is named in the error (as root that account is
    // `postgres`, which is refused by the resolver's own check; otherwise it is ours).
    const blocked = path.join(scratch, 'blocked');
    await mkdir(blocked);
    await chmod(blocked, 0o000);
    try {
      await expect(startEmbedded({ dataDir: path.join(blocked, 'pg'), env })).rejects.toThrow(blocked);
    } finally {
      await chmod(blocked, 0o700);
    }
    await chmod(scratch, 0o711); // mkdtemp's 0700 would lock the `postgres` account out, as root
    const first = await startEmbedded({ dataDir, env, log });
    expect(first.kind).toBe('ferretdb-postgresql');
    expect(logs.join('\n')).toMatch(/PostgreSQL ready on 127\.0\.0\.1:\d+/);
    expect(serverProcessesUnder(dataDir).length).toBeGreaterThanOrEqual(2); // postgres and ferretdb
    await withClient(first.uri, (c) => c.db('pg').collection('kept').insertOne({ _id: 'a' as never, n: 1 }));
    const port = portOf(first.uri);
    await first.stop();
    expect(await refusesConnections(port)).toBe(true);
    expect(serverProcessesUnder(dataDir)).toEqual([]);

    const second = await startEmbedded({ dataDir, env });
    try {
      await withClient(second.uri, async (c) => expect(await c.db('pg').collection('kept').findOne()).toEqual({ _id: 'a', n: 1 }));
    } finally {
      await second.stop();
    }
    expect(serverProcessesUnder(dataDir)).toEqual([]);
  }, 60_000);
});
