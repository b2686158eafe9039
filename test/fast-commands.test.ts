// `npm start`, `npm run worker`, `create-admin` and `jobs` build first (their `pre` scripts), but only what changed:
// `npm run build` is `tsc --build`, which skips a project whose outputs are newer than its inputs. Checked on a
// copy of the repository (sources and configuration; node_modules linked), as a fresh clone: it builds once, then
// each command starts without touching dist/, and a changed source is rebuilt before the next command runs it.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './support/processes.js';

const run = promisify(execFile);

let clone: string;
beforeAll(() => {
  clone = fs.mkdtempSync(path.join(os.tmpdir(), 'fast-commands-'));
  for (const entry of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'bench', 'test/support']) {
    fs.cpSync(path.join(ROOT, entry), path.join(clone, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(clone, 'node_modules'), 'dir');
});
afterAll(() => fs.rmSync(clone, { recursive: true, force: true }));

/** Every file under dist/ with its modification time. */
function distSnapshot(): Record<string, number> {
  const dist = path.join(clone, 'dist');
  const files = fs.readdirSync(dist, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  return Object.fromEntries(
    files.map((e) => {
      const file = path.join(e.parentPath, e.name);
      return [path.relative(dist, file), fs.statSync(file).mtimeMs];
    }),
  );
}

/**
 * Runs `npm run <script> -- <args>` in the copy with a MONGODB_URI the configuration refuses: the command builds
 * (or not), starts, and stops at once with its one-line configuration error, needing no database.
 */
async function npmRun(script: string, args: string[] = []): Promise<string> {
  const result = await run('npm', ['run', '--silent', script, ...(args.length ? ['--', ...args] : [])], {
    cwd: clone,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MONGODB_URI: 'not-a-uri' },
  }).catch((err: { stdout: string; stderr: string }) => err);
  return `${result.stdout}${result.stderr}`;
}

const COMMANDS: [string, string[]][] = [
  ['start', []],
  ['worker', []],
  ['create-admin', ['--email', 'boss@example.com', '--password', 'admin secret 1']],
  ['jobs', ['list']],
];

test('a fresh clone builds once; start, worker, create-admin and jobs then run without rebuilding; a changed source is rebuilt', async () => {
  expect(fs.existsSync(path.join(clone, 'dist'))).toBe(false);
  // The first command builds everything.
  expect(await npmRun('jobs', ['list'])).toContain('Invalid configuration: MONGODB_URI');
  expect(fs.existsSync(path.join(clone, 'dist', 'src', 'server.js'))).toBe(true);
  const built = distSnapshot();

  for (const [script, args] of COMMANDS) {
    expect(await npmRun(script, args)).toContain('Invalid configuration: MONGODB_URI must start with mongodb://');
    // Nothing under dist/ was written again: the build was skipped.
    expect(distSnapshot()).toEqual(built);
  }

  // A source changes: the next command rebuilds it before running.
  fs.appendFileSync(path.join(clone, 'src', 'logger.ts'), '\nexport const FRESHNESS_PROBE = 1;\n');
  expect(await npmRun('worker')).toContain('Invalid configuration: MONGODB_URI');
  expect(fs.readFileSync(path.join(clone, 'dist', 'src', 'logger.js'), 'utf8')).toContain('FRESHNESS_PROBE = 1');
  expect(distSnapshot()['src/logger.js']).not.toBe(built['src/logger.js']);
}, 240_000);
