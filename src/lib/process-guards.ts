// Last-resort handlers for entry points (API server, worker). An error nothing caught leaves the process in an
// unknown state, so it ends as Node's default would (exit code 1), but first logs one line a log pipeline can
// alert on ("unhandledRejection" / "uncaughtException", with the error and its stack) and shuts down in order,
// letting in-flight requests and jobs finish instead of cutting them off.
import { logger } from '../logger.js';
import type { Shutdown } from './shutdown.js';

/** Call once per process, from its entry point. */
export function installProcessGuards(shutdown: Shutdown): void {
  process.on('unhandledRejection', (reason) => {
    logger().fatal({ err: reason }, 'unhandledRejection: a promise failed with nothing to handle it; shutting down');
    void shutdown.run(1);
  });
  process.on('uncaughtException', (err, origin) => {
    logger().fatal({ err, origin }, 'uncaughtException: an error escaped every handler; shutting down');
    void shutdown.run(1);
  });
}
