// Real processes for tests and benchmarks (API servers, workers, CLIs, a benchmark's own children): the compiled
// entry points (`npm test` and `npm run bench` build first), each on 127.0.0.1, each stopped by whoever started it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository: this file runs from test/support/ under Jest and from dist/test/support/ in a benchmark. */
export const ROOT = repositoryAbove(path.dirname(fileURLToPath(import.meta.url)));
const DIST = path.join(ROOT, 'dist', 'src');

function repositoryAbove(dir: string): string {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json')) && existsSync(path.join(d, 'tsconfig.json'))) return d;
    if (path.dirname(d) === d) throw new Error(`no repository above ${dir}`);
  }
}

export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef';

/** What every process of one stack shares: its database, loopback and any free port, the mail addresses. */
export function stackEnv(mongoUri: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    MONGODB_URI: mongoUri,
    JWT_SECRET: TEST_JWT_SECRET,
    HOST: '127.0.0.1',
    PORT: '0',
    WORKER_HEALTH_PORT: '0',
    ADMIN_EMAIL: 'owner@restaurant.test',
    MAIL_FROM: 'Reservations <noreply@restaurant.test>',
    // Every test client signs up from 127.0.0.1; the limit's own tests set it (test/security-signup.test.ts).
    SIGNUP_MAX_PER_ADDRESS: '1000000',
    // The manage links' base (required in production); a test that follows a link sets its server's own.
    PUBLIC_URL: 'https://book.restaurant.test',
    ...extra,
  };
}

export interface Proc {
  child: ChildProcess;
  /** Every line the process printed (stdout and stderr), or the last `keepLines` of them. */
  lines: string[];
  /** Resolves with the first line matching `re` (already printed or to come); rejects after `timeoutMs`. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

export interface StartOptions {
  args?: string[];
  nodeArgs?: string[];
  /** Keep only this many of the newest lines (a long benchmark's server logs every request). */
  keepLines?: number;
}

const running = new Set<ChildProcess>();

/** SIGKILLs every process started here that is still running: for `process.on('exit')` of a run that may die. */
export function killAllProcesses(): void {
  for (const child of running) child.kill('SIGKILL');
}

/**
 * Runs `entry` with node: a compiled application entry relative to dist/src (`worker.js`, `cli/jobs.js`) or an
 * absolute path. `env` is its whole environment, plus PATH and HOME. BENCH_CPU_PROF=<dir> makes it write a V8 CPU
 * profile there when it exits (unless it is profiled step by step over its inspector).
 */
export function startProcess(entry: string, env: Record<string, string>, options: StartOptions = {}): Proc {
  const { args = [], nodeArgs = [], keepLines = Infinity } = options;
  // A process a benchmark profiles step by step over its inspector (bench/support/profiler.ts) gets no whole-life profile.
  const stepProfiled = nodeArgs.some((a) => a.startsWith('--inspect'));
  const profile = process.env.BENCH_CPU_PROF && !stepProfiled ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : [];
  const child = spawn(process.execPath, [...profile, ...nodeArgs, path.resolve(DIST, entry), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  // Per stream: a chunk may end mid-line, and a split line must not be matched (or missed) in halves.
  const read = (stream: NodeJS.ReadableStream) => {
    let partial = '';
    stream.on('data', (buf: Buffer) => {
      const parts = (partial + buf.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      onLines(parts);
    });
    stream.on('end', () => onLines([partial]));
  };
  const onLines = (parts: string[]) => {
    for (const line of parts) {
      if (!line) continue;
      lines.push(line);
      if (lines.length > keepLines) lines.splice(0, lines.length - keepLines);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  read(child.stdout!);
  read(child.stderr!);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  const output = () => lines.slice(-100).join('\n');
  return {
    child,
    lines,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    waitForLine(re, timeoutMs = 30_000) {
      const found = lines.find((l) => re.test(l));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`${entry}: no line matching ${re} within ${timeoutMs} ms. Output:\n${output()}`));
        }, timeoutMs);
        const w = {
          re,
          resolve: (l: string) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        waiters.push(w);
        void exited.then((code) => {
          if (!waiters.includes(w)) return;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`${entry} exited (${code}) before printing ${re}. Output:\n${output()}`));
        });
      });
    },
  };
}

/** Starts the API server (`dist/src/server.js`) and resolves with its GraphQL URL once it listens. */
export async function startApiProcess(env: Record<string, string>, options: StartOptions = {}): Promise<Proc & { url: string }> {
  // The ready line is logged at info: at least info, whatever the environment says.
  const level = env.LOG_LEVEL === 'debug' || env.LOG_LEVEL === 'trace' ? env.LOG_LEVEL : 'info';
  const p = startProcess('server.js', { ...env, LOG_LEVEL: level }, options);
  const line = await p.waitForLine(/GraphQL API ready at/, 60_000);
  const url = /(http:\/\/[^\s"]+\/graphql)/.exec(line)![1]!;
  return Object.assign(p, { url });
}

const workers = new Set<Proc>();

/** Starts a worker (`dist/src/worker.js`) and resolves once it is processing jobs. Logs at info: tests read its lines. */
export async function startWorkerProcess(env: Record<string, string>, args: string[] = [], options: Omit<StartOptions, 'args'> = {}): Promise<Proc> {
  const p = startProcess('worker.js', { ...env, LOG_LEVEL: 'info' }, { ...options, args });
  workers.add(p);
  void p.exited.then(() => workers.delete(p));
  await p.waitForLine(/worker ready/, 60_000);
  return p;
}

/** Kills the workers started here and not stopped (a test that timed out skips its `finally`). */
export async function killLeftoverWorkers(): Promise<void> {
  await Promise.all([...workers].map((p) => stopProcess(p, 'SIGKILL')));
}

/** Runs an entry (as `startProcess` names it) to completion. */
export async function runCli(entry: string, env: Record<string, string>, args: string[]): Promise<{ code: number | string; output: string }> {
  const p = startProcess(entry, env, { args });
  const code = await p.exited;
  return { code, output: p.lines.join('\n') };
}

export async function stopProcess(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string | undefined> {
  if (!p) return undefined;
  p.kill(signal);
  return p.exited;
}

/** A port free now (to give a restarted server the same one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
