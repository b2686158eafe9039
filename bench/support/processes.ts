// Child processes of a run: the real API server and worker (the compiled entry points, as `npm start` and
// `npm run worker` run them) and the benchmarks' own measuring children. Every one is stopped by the run,
// and killed if the run itself dies.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository: this file runs from dist/bench/support/. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DIST = path.join(ROOT, 'dist');

export interface Child {
  child: ChildProcess;
  lines: string[];
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** Runs `dist/<entry>` with node; `env` is the whole environment (plus PATH and HOME). */
export function startNode(entry: string, env: Record<string, string>, args: string[] = [], nodeArgs: string[] = []): Child {
  // BENCH_CPU_PROF=<dir>: every child writes a V8 CPU profile there when it exits (`node --cpu-prof`).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : [];
  const child = spawn(process.execPath, [...profile, ...nodeArgs, path.join(DIST, entry), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let partial = '';
  const onData = (buf: Buffer) => {
    const text = partial + buf.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (!line) continue;
      lines.push(line);
      if (lines.length > 5000) lines.splice(0, 1000);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  return {
    child,
    lines,
    exited,
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    waitForLine(re, timeoutMs = 60_000) {
      const found = lines.find((l) => re.test(l));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = {
          re,
          resolve: (l: string) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`${entry}: no line matching ${re} within ${timeoutMs} ms. Output:\n${lines.slice(-30).join('\n')}`));
        }, timeoutMs);
        waiters.push(w);
        void exited.then((code) => {
          if (!waiters.includes(w)) return;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`${entry} exited (${code}) before printing ${re}. Output:\n${lines.slice(-30).join('\n')}`));
        });
      });
    },
  };
}

/** Runs `dist/<entry>` to completion and returns the JSON object it printed last on stdout. */
export async function runNodeForJson<T>(entry: string, env: Record<string, string>, args: string[], nodeArgs: string[] = []): Promise<T> {
  const c = startNode(entry, env, args, nodeArgs);
  const code = await c.exited;
  const json = [...c.lines].reverse().find((l) => l.startsWith('{"result":'));
  if (code !== 0 || !json) throw new Error(`${entry} ${args.join(' ')} failed (${code}):\n${c.lines.slice(-30).join('\n')}`);
  return (JSON.parse(json) as { result: T }).result;
}

/** The environment shared by the API server and worker processes of a benchmark. */
export function serviceEnv(mongoUri: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    MONGODB_URI: mongoUri,
    JWT_SECRET: 'bench-secret-0123456789abcdef',
    HOST: '127.0.0.1',
    PORT: '0',
    WORKER_HEALTH_PORT: '0',
    ADMIN_EMAIL: 'owner@restaurant.test',
    MAIL_FROM: 'Reservations <noreply@restaurant.test>',
    // Production requires a SendGrid key; benchmarks without a stub point it at a closed port (nothing is sent
    // there: they run no worker).
    SENDGRID_API_KEY: 'SG.bench-key',
    SENDGRID_API_BASE_URL: 'http://127.0.0.1:9',
    ...extra,
  };
}

/** Starts the API server (`dist/src/server.js`) and resolves with its GraphQL URL once it listens. */
export async function startApiServer(env: Record<string, string>): Promise<Child & { url: string }> {
  // The ready line is logged at info.
  const p = startNode('src/server.js', { ...env, LOG_LEVEL: 'info' });
  const line = await p.waitForLine(/GraphQL API ready at/, 60_000);
  const url = /(http:\/\/[^\s"]+\/graphql)/.exec(line)![1]!;
  return Object.assign(p, { url });
}

/** Starts a worker (`dist/src/worker.js`) and resolves once it is processing jobs. */
export async function startWorker(env: Record<string, string>): Promise<Child> {
  const p = startNode('src/worker.js', { ...env, LOG_LEVEL: 'info' });
  await p.waitForLine(/worker ready/, 60_000);
  return p;
}
