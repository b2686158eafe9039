// Per-step CPU profiles of a child process: the benchmark starts it with `--inspect=127.0.0.1:0`, connects to its
// inspector over the Chrome DevTools Protocol, and starts and stops V8's sampling profiler around each step, so a
// profile covers exactly one operation's run (`node --cpu-prof` covers a whole process life; the protocol is the
// same V8 profiler, started and stopped from outside). Written by hand: the protocol is three calls over one
// WebSocket (`ws`, already a dependency), and no maintained client library is lighter than that.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import WebSocket from 'ws';
import type { Proc } from '../../test/support/processes.js';

/** Node arguments that open the inspector on loopback, on a free port, when profiles are asked for. */
export function inspectorArgs(): string[] {
  return process.env.BENCH_CPU_PROF ? ['--inspect=127.0.0.1:0'] : [];
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface StepProfiler {
  start(): Promise<void>;
  /** Stops the profile, writes `<BENCH_CPU_PROF>/<name>.cpuprofile` and returns its summary. */
  stop(name: string): Promise<ProfileSummary>;
  close(): void;
}

/** Connects to a process started with `inspectorArgs()`; undefined when profiles are not asked for. */
export async function attachProfiler(proc: Proc): Promise<StepProfiler | undefined> {
  const dir = process.env.BENCH_CPU_PROF;
  if (!dir) return undefined;
  const line = await proc.waitForLine(/Debugger listening on ws:\/\//);
  const url = /(ws:\/\/\S+)/.exec(line)![1]!;
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
    const p = msg.id === undefined ? undefined : pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id!);
    if (msg.error) p.reject(new Error(msg.error.message));
    else p.resolve(msg.result);
  });
  const call = <T>(method: string, params: Record<string, unknown> = {}) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (r: unknown) => void, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  // 200 µs: an operation of a few ms gets tens of samples.
  await call('Profiler.setSamplingInterval', { interval: 200 });
  await mkdir(dir, { recursive: true });
  return {
    start: () => call('Profiler.start'),
    async stop(name) {
      const { profile } = await call<{ profile: CpuProfile }>('Profiler.stop');
      await writeFile(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
      return summarize(profile);
    },
    close: () => ws.close(),
  };
}

export interface ProfileSummary {
  /** Sampled ms that were not idle. */
  busyMs: number;
  /** Self time by where the code comes from: a package, node's internals, this project, GC: [name, % of busy]. */
  byOrigin: [string, number][];
  /** The functions with the most self time: [`name (file)`, % of busy]. */
  topFunctions: [string, number][];
}

/** Self time by origin and by function, over the non-idle samples. */
export function summarize(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const origins = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') continue;
    busy += us;
    const origin = originOf(frame.url, frame.functionName);
    origins.set(origin, (origins.get(origin) ?? 0) + us);
    const fn = `${frame.functionName || '(anonymous)'} (${shortUrl(frame.url)}:${frame.lineNumber + 1})`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  }
  const top = (m: Map<string, number>, k: number): [string, number][] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([name, us]) => [name, Math.round((1000 * us) / Math.max(busy, 1)) / 10]);
  return { busyMs: Math.round(busy / 100) / 10, byOrigin: top(origins, 12), topFunctions: top(functions, 12) };
}

/** A frame's origin: `mongoose`, `node:internal`, `project`, `(garbage collector)`, `(program)`. */
function originOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  // The innermost package: a package's bundled dependency (mongoose's own mongodb driver) counts as that dependency.
  const packages = [...url.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)].map((m) => m[1]!);
  if (packages.length > 0) return packages[packages.length - 1]!;
  if (url.startsWith('node:')) return 'node:internal';
  return url.startsWith('file:') ? 'project' : url;
}

function shortUrl(url: string): string {
  const at = url.lastIndexOf('node_modules/');
  if (at >= 0) return url.slice(at + 'node_modules/'.length);
  const src = url.indexOf('/dist/');
  return src >= 0 ? url.slice(src + 1) : url;
}

export function formatSummary(s: ProfileSummary): string {
  const pct = (rows: [string, number][]) => rows.map(([n, p]) => `${n} ${p}%`).join(', ');
  return `${s.busyMs} ms sampled; by origin: ${pct(s.byOrigin)}\n    top functions: ${pct(s.topFunctions)}`;
}
