// The guardian: a small program between an owner process and its embedded database, so that the database never
// outlives its owner (see guarded-process.ts, which spawns it with `process.execPath`, from dist/ as tsc builds it).
// It starts the database and stops it (spec.stopSignal, then SIGKILL after spec.killAfterMs) as soon as its stdin,
// a pipe from the owner, closes: the kernel closes it however the owner ends, kill -9 included.
//
// Its last argument: a GuardianSpec as JSON. File descriptor 3: GuardianMessages back to the owner, a JSON line each.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

export interface GuardianSpec {
  command: string;
  args: string[];
  /** Removed once the database has exited (an ephemeral server's folder). */
  cleanupDir?: string;
  killAfterMs: number;
  /** The account the database runs as (PostgreSQL, when the owner is root). */
  owner?: { uid: number; gid: number };
  stopSignal?: NodeJS.Signals;
}

export type GuardianMessage =
  | { type: 'spawned'; pid: number | undefined }
  | { type: 'error'; message: string }
  | { type: 'exit'; code: number | null; signal: NodeJS.Signals | null };

function main(): void {
  const spec = JSON.parse(process.argv[process.argv.length - 1]!) as GuardianSpec;
  const send = (msg: GuardianMessage) => {
    try {
      fs.writeSync(3, `${JSON.stringify(msg)}\n`);
    } catch {
      // the owner is gone: nobody to tell
    }
  };
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});

  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    if (spec.cleanupDir) {
      try {
        fs.rmSync(spec.cleanupDir, { recursive: true, force: true, maxRetries: 5 });
      } catch {
        // best effort: the owner removes it too when it stops the server itself
      }
    }
    process.exit(0);
  };

  const db = spawn(spec.command, spec.args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true, ...spec.owner });
  db.stdout.on('data', (d: Buffer) => process.stdout.write(d));
  db.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  db.on('spawn', () => send({ type: 'spawned', pid: db.pid }));
  db.on('error', (err) => {
    send({ type: 'error', message: err.message });
    finish();
  });
  db.on('exit', (code, signal) => {
    // 'close' comes once its output is all forwarded, unless a grandchild holds the pipes open.
    const done = () => {
      send({ type: 'exit', code, signal });
      finish();
    };
    db.once('close', done);
    setTimeout(done, 500);
  });

  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    if (db.exitCode !== null || db.signalCode !== null) return;
    db.kill(spec.stopSignal ?? 'SIGTERM');
    setTimeout(() => db.kill('SIGKILL'), spec.killAfterMs);
  };
  process.stdin.on('data', () => {});
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.on('error', shutdown);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, shutdown);
  // Reparented: the owner is gone even if the pipe somehow is not.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) shutdown();
  }, 1000).unref();
}

main();
