// Real processes for tests that need more than one (API servers, workers, CLIs): the compiled entry points
// (`npm test` builds first), each on 127.0.0.1, each stopped by the test that started it.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = path.join(ROOT, 'dist', 'src');

export interface Proc {
  child: ChildProcess;
  /** Every line the process printed (stdout and stderr). */
  lines: string[];
  /** Resolves with the first line matching `re` (already printed or to come); rejects after `timeoutMs`. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

export function startProcess(entry: string, env: Record<string, string>, args: string[] = []): Proc {
  const child = spawn(process.execPath, [path.join(DIST, entry), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME!, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
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
          reject(new Error(`${entry}: no line matching ${re} within ${timeoutMs} ms. Output:\n${lines.join('\n')}`));
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
          if (waiters.includes(w)) {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(w), 1);
            reject(new Error(`${entry} exited (${code}) before printing ${re}. Output:\n${lines.join('\n')}`));
          }
        });
      });
    },
  };
}

/** Starts `src/server.ts` and resolves with its GraphQL URL once it listens. */
export async function startApiProcess(env: Record<string, string>): Promise<Proc & { url: string }> {
  // The ready line is a log line: at least `info`, whatever the shared test environment says.
  const level = env.LOG_LEVEL && env.LOG_LEVEL !== 'silent' ? env.LOG_LEVEL : 'info';
  const p = startProcess('server.js', { ...env, LOG_LEVEL: level });
  const line = await p.waitForLine(/GraphQL API ready at/, 60_000);
  const url = /(http:\/\/[^\s"]+\/graphql)/.exec(line)![1]!;
  return Object.assign(p, { url });
}

/** Runs a CLI entry to completion. */
export async function runCli(entry: string, env: Record<string, string>, args: string[]): Promise<{ code: number | string; output: string }> {
  const p = startProcess(entry, env, args);
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

/** Retries `attempt` until it succeeds or `timeoutMs` passes (then throws its last error). */
export async function eventually<T>(attempt: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
