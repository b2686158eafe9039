// Running a database process that cannot outlive us. We never spawn the database directly: we spawn the
// guardian (guardian.ts) in its own process group, its stdin a pipe from us; it spawns the database and stops it
// as soon as that pipe closes. The kernel closes it however we end: stop(), Ctrl-C, SIGTERM, an uncaught crash,
// process.exit() or kill -9. The separate process group keeps a terminal's Ctrl-C away from the database, so the
// app can drain against a live database and then call stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { trySignal } from '../../lib/pid.js';
import { isFile, packageRoot } from './files.js';
import type { GuardianMessage, GuardianSpec } from './guardian.js';

const KILL_AFTER_MS = 10_000;

export interface Account {
  uid: number;
  gid: number;
}

interface ExitInfo {
  code: number | null;
  signal: string | null;
  error?: string;
}

export interface GuardedProcess {
  pid: number | undefined;
  exitInfo: ExitInfo | undefined;
  /** Resolves when the guardian (hence the database) has exited. */
  exited: Promise<void>;
  /** The last 8 KiB of its output. */
  output(): string;
  stop(): Promise<void>;
  /**
   * Once running, the server must not keep our process alive on its own: if we exit without stop(), the
   * pipe closes and the guardian stops the database.
   */
  unref(): void;
}

export async function spawnGuarded(
  command: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; cleanupDir?: string; owner?: Account; stopSignal?: NodeJS.Signals },
): Promise<GuardedProcess> {
  const { NODE_OPTIONS: _ignored, ...env } = opts.env;
  const spec: GuardianSpec = {
    command,
    args,
    cleanupDir: opts.cleanupDir,
    killAfterMs: KILL_AFTER_MS,
    owner: opts.owner,
    stopSignal: opts.stopSignal,
  };
  const guardian: ChildProcess = spawn(process.execPath, [await guardianProgram(), JSON.stringify(spec)], {
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
      let msg: GuardianMessage;
      try {
        msg = JSON.parse(line) as GuardianMessage;
      } catch {
        return;
      }
      if (msg.type === 'spawned') {
        proc.pid = msg.pid;
        resolve();
      } else if (msg.type === 'error') {
        proc.exitInfo = { code: null, signal: null, error: msg.message };
        reject(new Error(`could not run ${command}: ${msg.message}`));
      } else if (msg.type === 'exit') {
        proc.exitInfo = { code: msg.code, signal: msg.signal };
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
        if (dbPid) trySignal(dbPid, 'SIGKILL');
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

/**
 * The guardian as tsc compiled it: beside this module when it runs from dist/; when it runs from the TypeScript
 * sources (Jest), dist/'s copy, which must exist (`npm run build`; `npm test` builds first) and be current.
 */
async function guardianProgram(): Promise<string> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const beside = path.join(here, 'guardian.js');
  if (await isFile(beside)) return beside;
  const root = await packageRoot();
  const built = path.join(root, 'dist', path.relative(root, here), 'guardian.js');
  const [builtAt, sourceAt] = await Promise.all(
    [built, path.join(here, 'guardian.ts')].map((f) => stat(f).then((s) => s.mtimeMs, () => undefined)),
  );
  if (builtAt === undefined) throw new Error(`the guardian program is not built (no ${built}): run \`npm run build\``);
  if (sourceAt !== undefined && sourceAt > builtAt) {
    throw new Error(`the built guardian program (${built}) is older than its source: run \`npm run build\``);
  }
  return built;
}

/** Waits until the process has printed `pattern` (PostgreSQL's readiness line). */
export async function waitForOutput(proc: GuardedProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(proc.output())) {
    await failIfExited(proc);
    if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms${outputTail(proc)}`);
    await pause(proc, 50);
  }
}

/** Throws, with its exit and last output, if the process has exited (while we wait for it to be ready). */
export async function failIfExited(proc: GuardedProcess): Promise<void> {
  if (!proc.exitInfo) return;
  await proc.exited; // all its output read
  throw new Error(`exited during start-up (${describeExit(proc.exitInfo)})${outputTail(proc)}`);
}

/** Waits `ms`, or less if the process exits meanwhile. */
export function pause(proc: GuardedProcess, ms: number): Promise<void> {
  return Promise.race([new Promise<void>((resolve) => setTimeout(resolve, ms)), proc.exited]);
}

function describeExit(info: ExitInfo): string {
  const how = info.signal ? `signal ${info.signal}` : info.code !== null ? `exit code ${info.code}` : '';
  return [info.error, how].filter(Boolean).join(', ');
}

export function outputTail(proc: GuardedProcess): string {
  const lines = proc.output().trimEnd().split('\n').slice(-15).join('\n');
  return lines ? `; last output:\n${lines}` : '';
}
