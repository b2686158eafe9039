// The FerretDB 1.24 binary: FERRETDB_BIN, on PATH, or where Go installs programs; where Go is installed and
// the binary is missing, built once with scripts/install-ferretdb.sh (a plain `go install` of v1.24.2 builds a
// binary that panics at start for want of a generated version file).
import { execFile, spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { StartContext } from './context.js';
import { findOnPath, isExecutableFile, isFile, packageRoot } from './files.js';

export async function ferretdbBinary(ctx: StartContext): Promise<string> {
  const found = await findFerretdb(ctx);
  if (found) return found;
  const go = await findOnPath('go', ctx.env);
  if (!go) {
    throw new Error('no FerretDB binary (FERRETDB_BIN unset, none on PATH or in ~/go/bin) and Go is not installed to build one');
  }
  await ctx.host.ferretdbBuild.run(go, ctx);
  const built = await findFerretdb(ctx);
  if (!built) throw new Error('the FerretDB build finished but no `ferretdb` binary was found in the Go bin folder');
  return built;
}

async function findFerretdb({ settings, env }: StartContext): Promise<string | undefined> {
  const explicit = settings.FERRETDB_BIN;
  if (explicit) {
    if (await isExecutableFile(explicit)) return explicit;
    throw new Error(`FERRETDB_BIN=${explicit} is not an executable file`);
  }
  const exe = process.platform === 'win32' ? 'ferretdb.exe' : 'ferretdb';
  const onPath = await findOnPath('ferretdb', env);
  if (onPath) return onPath;
  const dirs = [
    settings.FERRETDB_INSTALL_DIR, // where scripts/install-ferretdb.sh puts it when set
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

/** One build at a time for the servers of one owner: those that start meanwhile wait for it. */
export class FerretdbBuild {
  #running: Promise<void> | undefined;

  run(go: string, ctx: StartContext): Promise<void> {
    this.#running ??= build(go, ctx).finally(() => {
      this.#running = undefined; // built: later starts find the binary; failed: a later attempt may succeed
    });
    return this.#running;
  }
}

async function build(go: string, ctx: StartContext): Promise<void> {
  const script = path.join(await packageRoot(), 'scripts', 'install-ferretdb.sh');
  if (!(await isFile(script))) throw new Error(`cannot build FerretDB: ${script} is missing`);
  ctx.log('embedded MongoDB: building FerretDB 1.24 with Go, once per machine (a few minutes)…');
  const started = Date.now();
  const env = {
    ...ctx.env,
    PATH: [path.dirname(go), ctx.env.PATH].filter(Boolean).join(path.delimiter),
    ...(ctx.settings.FERRETDB_INSTALL_DIR ? { FERRETDB_INSTALL_DIR: ctx.settings.FERRETDB_INSTALL_DIR } : {}),
  };
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
}

function goEnv(go: string, name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(go, ['env', name], { env, timeout: 10_000 }, (err, stdout) => resolve(err ? undefined : stdout.trim() || undefined));
  });
}
