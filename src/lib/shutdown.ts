// Orderly shutdown: SIGTERM/SIGINT run the registered steps (highest stage first), then exit. One per process,
// made by its entry point and passed to whoever registers a step or asks whether the process is stopping.
import type { Logger } from 'pino';

interface Step {
  name: string;
  run: () => Promise<unknown>;
  /** Higher stages run first: stop taking work (3), drain (2), close connections (1), stop the database (0). */
  stage: number;
}

export interface Shutdown {
  add(name: string, run: () => Promise<unknown>, stage: number): void;
  isShuttingDown(): boolean;
  /** Runs every step, then exits the process with `exitCode` (or 1 after `timeoutMs`). */
  run(exitCode?: number, timeoutMs?: number): Promise<void>;
}

export function createShutdown(log: Logger): Shutdown {
  const steps: Step[] = [];
  let shuttingDown: Promise<void> | undefined;

  const run = (exitCode = 0, timeoutMs = 10_000): Promise<void> =>
    (shuttingDown ??= (async () => {
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
      log.flush();
      process.exit(exitCode);
    })());

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.info({ signal }, 'shutting down');
      void run(0);
    });
  }

  return {
    add: (name, fn, stage) => void steps.push({ name, run: fn, stage }),
    isShuttingDown: () => shuttingDown !== undefined,
    run,
  };
}
