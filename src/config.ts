// The one place that reads process.env: validated once, typed, frozen.
import { z } from 'zod';

const humanInterval = /^\d+(\.\d+)?\s*(ms|milliseconds?|seconds?|minutes?|hours?|days?)$/i;

const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(emptyToUndefined, z.coerce.number().int().min(min).max(max).default(def));

export const configSchema = z
  .object({
    NODE_ENV: z.preprocess(emptyToUndefined, z.enum(['development', 'production', 'test']).default('development')),
    MONGODB_URI: z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://')
        .optional(),
    ),
    PORT: int(4000, 0, 65535),
    HOST: z.preprocess(emptyToUndefined, z.string().default('0.0.0.0')),
    JWT_SECRET: optionalString,
    JWT_TTL: z.preprocess(emptyToUndefined, z.string().regex(humanInterval, 'must be like "12 hours"').default('12 hours')),
    ADMIN_EMAIL: z.preprocess(emptyToUndefined, z.email().default('admin@example.com')),
    MAIL_FROM: z.preprocess(emptyToUndefined, z.string().min(3).default('Reservations <noreply@example.com>')),
    SENDGRID_API_KEY: optionalString,
    SENDGRID_API_BASE_URL: z.preprocess(emptyToUndefined, z.url().optional()),
    MAIL_OUTBOX_DIR: z.preprocess(emptyToUndefined, z.string().default('./.data/outbox')),
    DISPLAY_TIMEZONE: z.preprocess(
      emptyToUndefined,
      z
        .string()
        .default('UTC')
        .refine((tz) => {
          try {
            new Intl.DateTimeFormat('en-GB', { timeZone: tz });
            return true;
          } catch {
            return false;
          }
        }, 'must be an IANA time zone such as Europe/London'),
    ),
    COMPLETION_GRACE_MINUTES: z.preprocess(emptyToUndefined, z.coerce.number().min(0).max(7 * 24 * 60).default(35)),
    COMPLETION_SWEEP_INTERVAL: z.preprocess(
      emptyToUndefined,
      z.string().regex(humanInterval, 'must be a human interval such as "5 minutes" or "2 seconds"').default('5 minutes'),
    ),
    JOB_POLL_INTERVAL: z.preprocess(
      emptyToUndefined,
      z.string().regex(humanInterval, 'must be a human interval such as "500 ms" or "1 second"').default('500 ms'),
    ),
    EMAIL_MAX_ATTEMPTS: int(6, 1, 50),
    BUSINESS_NAME: z.preprocess(emptyToUndefined, z.string().max(100).default('Reservations')),
    WORKER_HEALTH_PORT: int(4001, 0, 65535),
    LOG_LEVEL: z.preprocess(
      emptyToUndefined,
      z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    ),
    DATA_DIR: z.preprocess(emptyToUndefined, z.string().default('./.data')),
  })
  .superRefine((c, ctx) => {
    if (c.NODE_ENV === 'production') {
      if (!c.JWT_SECRET) ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'is required in production' });
      if (!c.SENDGRID_API_KEY)
        ctx.addIssue({ code: 'custom', path: ['SENDGRID_API_KEY'], message: 'is required in production' });
      if (!c.MONGODB_URI) ctx.addIssue({ code: 'custom', path: ['MONGODB_URI'], message: 'is required in production' });
    }
    if (c.JWT_SECRET && c.JWT_SECRET.length < 16)
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'must be at least 16 characters' });
  });

export type Config = Readonly<z.infer<typeof configSchema> & { JWT_SECRET: string }>;

export class ConfigError extends Error {}

/** Parses an environment; throws ConfigError whose message is one line naming the first bad variable. */
export function parseConfig(env: NodeJS.ProcessEnv): Config {
  const result = configSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    const value = env[name];
    const shown = name.includes('SECRET') || name.includes('KEY') || value === undefined ? '' : ` (got "${value}")`;
    throw new ConfigError(`Invalid configuration: ${name} ${issue.message}${shown}`);
  }
  const c = result.data;
  // Development without a secret: a fixed, loudly-named one so tokens survive restarts of `npm start`.
  return Object.freeze({ ...c, JWT_SECRET: c.JWT_SECRET ?? 'insecure-development-secret-change-me' });
}

let cached: Config | undefined;

/** The process's configuration; on a bad value prints one line and exits (entry points only). */
export function config(): Config {
  if (!cached) {
    try {
      cached = parseConfig(process.env);
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`${err.message}\n`);
        process.exit(1);
      }
      throw err;
    }
  }
  return cached;
}

/** For tests and tools that build a process-like configuration explicitly. */
export function setConfig(c: Config): void {
  cached = c;
}

/** Milliseconds of a human interval like "5 minutes", "500 ms", "2 seconds". */
export function intervalMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/i.exec(text.trim());
  if (!m) throw new Error(`not an interval: ${text}`);
  const n = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  if (unit.startsWith('ms') || unit.startsWith('milli')) return n;
  if (unit.startsWith('second')) return n * 1000;
  if (unit.startsWith('minute')) return n * 60_000;
  if (unit.startsWith('hour')) return n * 3_600_000;
  return n * 86_400_000;
}
