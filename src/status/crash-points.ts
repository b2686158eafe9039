// Named crash points: a test build can make a process die (SIGKILL, no clean-up) at one step of a status change or
// an email delivery, to show that what was committed before it still gets its effects, once. `CRASH_POINT` arms
// one; config.ts refuses it unless NODE_ENV=test, so a stray variable cannot make a production process kill itself.
export const CRASH_POINTS = Object.freeze(['after-claim', 'after-apply', 'after-handover', 'after-email-sent'] as const);
export type CrashPointName = (typeof CRASH_POINTS)[number];

/** An armed point, optionally only for changes to one status (`after-claim:CONFIRMED`). */
export interface CrashPoint {
  point: CrashPointName;
  status?: string;
}

/** Called at each named point; kills the process when that point is the armed one. */
export type CrashHook = (point: CrashPointName, status?: string) => void;

export function crashHook(armed: CrashPoint | undefined): CrashHook {
  if (!armed) return () => {};
  return (point, status) => {
    if (point !== armed.point || (armed.status !== undefined && armed.status !== status)) return;
    process.stderr.write(`crash point ${point}${status ? `:${status}` : ''} reached: killing this process\n`);
    process.kill(process.pid, 'SIGKILL');
  };
}
