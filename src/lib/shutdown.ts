// Orderly shutdown: SIGTERM/SIGINT run the registered steps (lowest stage last), then exit.
import { logger } from '../logger.js';

interface Step {
  name: string;
  run: () => Promise<unknown>;
  /** Higher stages run first: stop taking work (3), drain (2), close connections (1), stop the database (0). */
  stage: number;
}

const steps: Step[] = [];
let shuttingDown: Promise<void> | undefined;
let installed = false;

export function onShutdown(name: string, run: () => Promise<unknown>, stage: number): void {
  steps.push({ name, run, stage });
  installSignalHandlers();
}

export function isShuttingDown(): boolean {
  return shuttingDown !== undefined;
}

export function runShutdown(exitCode = 0, timeoutMs = 10_000): Promise<void> {
  shuttingDown ??= (async () => {
    const log = logger();
    const timer = setTimeout(() => {
      log.error('shutdown took longer than %d ms; exiting', timeoutMs);
      process.exit(exitCode || 1);
    }, timeoutMs);
    timer.unref();
    const stages = [...new Set(steps.map((s) => s.stage))].sort((a, b) => b - a);
    for (const stage of stages) {
      await Promise.all(
        steps
          .filter((s) => s.stage === stage)
          .map(async (s) => {
            try {
              await s.run();
            } catch (err) {
              log.warn({ err, step: s.name }, 'shutdown step failed');
            }
          }),
      );
    }
    log.info('shut down cleanly');
    logger().flush();
    process.exit(exitCode);
  })();
  return shuttingDown;
}

function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger().info({ signal }, 'shutting down');
      void runShutdown(0);
    });
  }
}
