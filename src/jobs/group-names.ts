// The job groups a worker can be told to run (WORKER_JOBS, `npm run worker -- --jobs …`); which jobs each holds
// is src/jobs/groups.ts. Kept apart so config.ts can validate names without importing every job.
export const JOB_GROUP_NAMES = Object.freeze(['email', 'completion', 'webhooks', 'maintenance'] as const);
export type JobGroupName = (typeof JOB_GROUP_NAMES)[number];
