// One server per data folder: a second one on the same SQLite files (or a second mongod) would fail or, worse,
// corrupt them. The lock file names its owner by pid and by the moment that process started, so no registry
// is needed: a lock naming this very process is held (by another server of ours); one whose process is gone is
// stale and taken over, and so is one naming our pid with another start (an earlier run whose process had the
// same pid, as in containers).
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { isAlive } from '../../lib/pid.js';

/** Locks `lockPath` for this process; resolves to its release (idempotent). */
export async function lockDataDir(lockPath: string): Promise<() => Promise<void>> {
  await mkdir(path.dirname(lockPath), { recursive: true });
  const started = String(performance.timeOrigin);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockPath, `${process.pid} ${started}\n`, { flag: 'wx' });
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        await unlink(lockPath).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const [pidText = '', ownerStarted] = (await readFile(lockPath, 'utf8').catch(() => '')).trim().split(/\s+/);
      const owner = Number.parseInt(pidText, 10);
      if (owner === process.pid && ownerStarted === started) {
        throw new Error(`${path.dirname(lockPath)} is already used by an embedded server in this process`);
      }
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
