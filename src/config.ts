// The one place that reads process.env: validated once, typed, frozen.
import { isIP } from 'node:net';
import ms from 'ms';
import { z } from 'zod';
import { CRASH_POINTS, type CrashPoint } from './status/crash-points.js';
import { EMBEDDED_KINDS } from './db/embedded/kinds.js';
import { JOB_GROUP_NAMES } from './jobs/group-names.js';

const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const commaList = (v: unknown) =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean)
    : v;
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(emptyToUndefined, z.coerce.number().int().min(min).max(max).default(def));

/**
 * A length of time as people write it ("500 ms", "5 minutes", "1.5 hours"), read with `ms`; a unit is required.
 * Not human-interval (Agenda's parser): it reads "500 ms" as NaN and "500 milliseconds" as 500,000.
 */
const UNIT = /[a-z]\s*$/i;
const interval = (def: string, example = def) =>
  z.preprocess(
    emptyToUndefined,
    z
      .string()
      .refine((text) => UNIT.test(text) && Number.isFinite(ms(text as ms.StringValue)) && ms(text as ms.StringValue) > 0, {
        message: `must be a length of time such as "${example}"`,
      })
      .default(def),
  );
/** A length of time that may be zero ("0 minutes"), read like `interval`. */
const duration = (def: string, example = def) =>
  z.preprocess(
    emptyToUndefined,
    z
      .string()
      .refine((text) => UNIT.test(text) && Number.isFinite(ms(text as ms.StringValue)) && ms(text as ms.StringValue) >= 0, {
        message: `must be a length of time such as "${example}"`,
      })
      .default(def),
  );

/** One reminder before a reservation's start: as written, and in milliseconds (its identity in job and email keys). */
export interface ReminderOffset {
  text: string;
  ms: number;
}

/**
 * A comma list of lengths of time ("24 hours, 2 hours"). Unset: the default; set but empty (or `none`): no
 * reminders. Duplicates are dropped; the result is ordered from the earliest reminder to the latest.
 */
const reminderOffsets = (def: string) =>
  z.preprocess(
    (v) => (v === undefined ? commaList(def) : typeof v === 'string' && /^\s*(none)?\s*$/i.test(v) ? [] : commaList(v)),
    z
      .array(
        z.string().refine((text) => UNIT.test(text) && Number.isFinite(ms(text as ms.StringValue)) && ms(text as ms.StringValue) > 0, {
          message: 'must be a comma list of lengths of time such as "24 hours, 2 hours" (empty: no reminders)',
        }),
      )
      .transform((texts): readonly ReminderOffset[] => {
        const byMs = new Map(texts.map((text) => [ms(text as ms.StringValue), text]));
        return Object.freeze([...byMs].sort(([a], [b]) => b - a).map(([n, text]) => Object.freeze({ text, ms: n })));
      }),
  );

// --- The embedded database (src/db/embedded/), used only without MONGODB_URI. Its own schema, merged into
// configSchema below, so that what starts one without a full configuration (the test set-up, the bench) can
// parse just these: parseEmbeddedSettings.
const trimmed = (v: unknown) => (typeof v === 'string' ? emptyToUndefined(v.trim()) : v);
const lowercase = (v: unknown) => (typeof v === 'string' ? trimmed(v.toLowerCase()) : v);
const optionalPath = z.preprocess(trimmed, z.string().optional());
/** GRAPHQL_INTROSPECTION's values. */
export const INTROSPECTION_MODES = Object.freeze(['on', 'admins', 'off'] as const);
export type IntrospectionMode = (typeof INTROSPECTION_MODES)[number];
const ON_OFF = Object.freeze(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'] as const);

export const embeddedSettingsSchema = z.object({
  // Which server: the first of mongod, memory-server, ferretdb that works (auto), or that one.
  EMBEDDED_MONGO: z.preprocess(
    trimmed,
    z.enum(['auto', ...EMBEDDED_KINDS], { error: `must be one of ${EMBEDDED_KINDS.join(', ')} or auto` }).default('auto'),
  ),
  MONGOMS_SYSTEM_BINARY: optionalPath,
  MONGOMS_RUNTIME_DOWNLOAD: z.preprocess(
    lowercase,
    z
      .enum(ON_OFF, { error: 'must be true or false' })
      .default('true')
      .transform((v) => ['true', '1', 'yes', 'on'].includes(v)),
  ),
  MONGOMS_DOWNLOAD_URL: z.preprocess(trimmed, z.url({ error: 'must be a URL such as https://…' }).optional()),
  MONGOMS_DOWNLOAD_MIRROR: z.preprocess(trimmed, z.url({ error: 'must be a URL such as https://…' }).optional()),
  FERRETDB_BIN: optionalPath,
  FERRETDB_INSTALL_DIR: optionalPath,
  FERRETDB_LOG_LEVEL: z.preprocess(
    lowercase,
    z.enum(['debug', 'info', 'warn', 'error'], { error: 'must be one of debug, info, warn, error' }).default('warn'),
  ),
  POSTGRES_BIN_DIR: optionalPath,
});

export type EmbeddedSettings = Readonly<z.infer<typeof embeddedSettingsSchema>>;

/** The embedded database's settings alone; throws ConfigError as parseConfig does. */
export function parseEmbeddedSettings(env: NodeJS.ProcessEnv): EmbeddedSettings {
  const result = embeddedSettingsSchema.safeParse(env);
  if (!result.success) throw configError(result.error, env);
  return Object.freeze(result.data);
}

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
    JWT_TTL: interval('12 hours'),
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
    COMPLETION_SWEEP_INTERVAL: interval('5 minutes', '2 seconds'),
    JOB_POLL_INTERVAL: interval('500 ms'),
    EMAIL_MAX_ATTEMPTS: int(6, 1, 50),
    // The wait before an email's first retry; each later retry waits twice as long as the one before.
    EMAIL_RETRY_DELAY: interval('5 seconds'),
    // How long a running job may go unheard from before another worker takes it over (a worker killed mid-job).
    // Keep it above SendGrid's request timeout (15 s): an email send must finish within its lock.
    JOB_LOCK_LIFETIME: interval('1 minute'),
    // Reservations the overdue sweep reads and completes per round: what it holds in memory at once.
    COMPLETION_BATCH_SIZE: int(200, 1, 1000),
    // How often a worker hands over the pending effects of status changes whose process died before it could
    // (dispatch-pending-effects).
    PENDING_EFFECTS_INTERVAL: interval('5 seconds'),
    // How long after it was claimed a change whose effects were not handed over counts as abandoned by its process.
    // Above the longest a healthy process takes (a sweep batch on a loaded server takes seconds): a live process's
    // change handed over twice is harmless but wasted work, and under load it would add to the load.
    PENDING_EFFECTS_AFTER: interval('30 seconds'),
    // Finished jobs (sent emails, …) stay visible in Agendash and `npm run jobs` this long; then purge-job-history,
    // every JOB_HISTORY_PURGE_INTERVAL, removes them. Failed jobs stay until retried or deleted.
    JOB_HISTORY_RETENTION: interval('7 days'),
    JOB_HISTORY_PURGE_INTERVAL: interval('1 hour'),
    // Tests only (refused otherwise): the process kills itself at this step of a status change or an email
    // delivery, optionally only for changes to one status: `after-claim`, `after-apply:CONFIRMED`, … (status/crash-points.ts).
    CRASH_POINT: z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(
          new RegExp(`^(${CRASH_POINTS.join('|')})(:[A-Z_]+)?$`),
          `must be one of ${CRASH_POINTS.join(', ')}, optionally followed by :<STATUS>`,
        )
        .transform((text): CrashPoint => {
          const [point, status] = text.split(':');
          return { point: point as CrashPoint['point'], ...(status ? { status } : {}) };
        })
        .optional(),
    ),
    BUSINESS_NAME: z.preprocess(emptyToUndefined, z.string().max(100).default('Reservations')),
    // The venue's address: the calendar invite's location, and shown on the manage page.
    BUSINESS_ADDRESS: z.preprocess(emptyToUndefined, z.string().max(300).optional()),
    // How customers reach the venue (a phone number, an email): shown where they can no longer cancel online.
    BUSINESS_CONTACT: z.preprocess(emptyToUndefined, z.string().max(200).optional()),
    // Where customers' browsers reach this API: the base of the manage links in emails. Required in production;
    // in development http://localhost:<PORT>.
    PUBLIC_URL: z.preprocess(
      emptyToUndefined,
      z
        .string()
        .refine((text) => {
          try {
            return ['http:', 'https:'].includes(new URL(text).protocol);
          } catch {
            return false;
          }
        }, 'must be an http(s) URL such as https://book.example.com')
        .transform((text) => text.replace(/\/+$/, ''))
        .optional(),
    ),
    // Reminder emails before each confirmed reservation's start, one per offset.
    REMINDER_OFFSETS: reminderOffsets('24 hours, 2 hours'),
    // The length of the event in calendar invites.
    CALENDAR_EVENT_DURATION: interval('90 minutes'),
    // Closer to the start than this, a customer can no longer cancel (by link or API); admins always can.
    CANCELLATION_CUTOFF: duration('0 minutes', '2 hours'),
    WORKER_HEALTH_PORT: int(4001, 0, 65535),
    LOG_LEVEL: z.preprocess(
      emptyToUndefined,
      z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    ),
    DATA_DIR: z.preprocess(emptyToUndefined, z.string().default('./.data')),
    // Express's `trust proxy`: false (the socket's peer is the client), true, a hop count, or the proxies'
    // addresses/subnets (and `loopback`, `linklocal`, `uniquelocal`). Decides the client address log-in limits use.
    TRUST_PROXY: z.preprocess(
      (v) => {
        const text = emptyToUndefined(v);
        if (typeof text !== 'string') return text;
        if (/^(true|false)$/i.test(text.trim())) return text.trim().toLowerCase() === 'true';
        if (/^\d+$/.test(text.trim())) return Number(text.trim());
        return commaList(text);
      },
      z
        .union([
          z.boolean(),
          z.number().int().min(0).max(100),
          z.array(
            z
              .string()
              .refine(
                (item) => ['loopback', 'linklocal', 'uniquelocal'].includes(item) || isIpOrSubnet(item),
                'must be true, false, a hop count, or a comma list of proxy addresses or subnets',
              ),
          ),
        ])
        .default(false),
    ),
    // Browser origins allowed to call the API cross-origin, e.g. "https://app.example.com,https://admin.example.com".
    CORS_ORIGINS: z.preprocess(
      (v) => commaList(emptyToUndefined(v)),
      z
        .array(z.string().refine(isOrigin, 'must be a comma list of origins such as https://app.example.com'))
        .default([]),
    ),
    // Bounds on one GraphQL request over HTTP (src/security/): body size, operations per batch (1: batching off),
    // selection depth, estimated complexity, aliases and parser tokens.
    REQUEST_BODY_LIMIT: z.preprocess(
      emptyToUndefined,
      z.string().regex(/^\d+\s*(b|kb|mb)?$/i, 'must be a size such as "100kb" or "1mb"').default('100kb'),
    ),
    MAX_BATCH: int(1, 1, 100),
    QUERY_MAX_DEPTH: int(20, 1, 1000),
    QUERY_MAX_COMPLEXITY: int(5000, 1, 1_000_000),
    // Aliases and directives per operation, every field counted (`__typename` included: graphql-armor leaves it
    // out by default, which is how scanners send 100+ aliased `__typename`s).
    QUERY_MAX_ALIASES: int(15, 0, 1000),
    QUERY_MAX_DIRECTIVES: int(10, 0, 1000),
    QUERY_MAX_TOKENS: int(2000, 100, 1_000_000),
    // Who may introspect the schema (security/introspection.ts): `on` everyone, `admins` only an admin's token,
    // `off` nobody. Unset: `on` outside production, `admins` in production (parseConfig fills it in).
    GRAPHQL_INTROSPECTION: z.preprocess(
      lowercase,
      z.enum(INTROSPECTION_MODES, { error: `must be one of ${INTROSPECTION_MODES.join(', ')}` }).optional(),
    ),
    // Sign-ups per client address within SIGNUP_WINDOW, counted across API servers (security/signup-limits.ts).
    SIGNUP_MAX_PER_ADDRESS: int(10, 1, 1_000_000),
    SIGNUP_WINDOW: interval('1 hour'),
    // How often each API server re-checks the users behind its open WebSocket connections (deleted, demoted):
    // the longest such a connection keeps receiving. Expiry is enforced at the token's own deadline.
    AUTH_RECHECK_INTERVAL: interval('1 minute', '10 seconds'),
    // Failed log-ins allowed per email and per client address within LOGIN_WINDOW, counted across API servers.
    LOGIN_MAX_ATTEMPTS: int(5, 1, 1000),
    LOGIN_MAX_ATTEMPTS_PER_ADDRESS: int(20, 1, 100_000),
    LOGIN_WINDOW: interval('15 minutes'),
    // --- Webhooks (src/webhooks/). How long one delivery attempt may take before it counts as failed (capped at
    // 80% of JOB_LOCK_LIFETIME, so an attempt always ends inside its job's lock).
    WEBHOOK_TIMEOUT: interval('10 seconds'),
    // The waits between a failed attempt and the next, in turn (each with ±10% jitter); after the last, FAILED.
    WEBHOOK_RETRY_SCHEDULE: z.preprocess(
      (v) => commaList(emptyToUndefined(v)),
      z
        .array(
          z.string().refine((text) => UNIT.test(text) && Number.isFinite(ms(text as ms.StringValue)) && ms(text as ms.StringValue) > 0, {
            message: 'must be a comma list of lengths of time such as "5 seconds, 5 minutes, 30 minutes"',
          }),
        )
        .max(50, 'must list at most 50 intervals')
        .default(['5 seconds', '5 minutes', '30 minutes', '2 hours', '5 hours', '10 hours', '10 hours']),
    ),
    // An endpoint whose deliveries have all failed for this long is disabled (and ADMIN_EMAIL told, once).
    WEBHOOK_DISABLE_AFTER: interval('5 days'),
    // Delivery attempts older than this are deleted by the clean-webhook-log job.
    WEBHOOK_LOG_RETENTION: interval('30 days'),
    // After rotateWebhookSecret, the old secret keeps signing beside the new one for this long.
    WEBHOOK_SECRET_OVERLAP: interval('24 hours'),
    // true: endpoints may be http:// in production and may resolve to loopback/private/link-local addresses.
    WEBHOOK_ALLOW_PRIVATE_URLS: z.preprocess(
      lowercase,
      z
        .enum(ON_OFF, { error: 'must be true or false' })
        .default('false')
        .transform((v) => ['true', '1', 'yes', 'on'].includes(v)),
    ),
    // The key signing secrets are encrypted with at rest (AES-256-GCM): at least 32 characters, e.g. the output
    // of `openssl rand -base64 32`. Unset: a key derived from JWT_SECRET (src/webhooks/secrets.ts says why).
    WEBHOOK_ENCRYPTION_KEY: z.preprocess(
      emptyToUndefined,
      z.string().min(32, 'must be at least 32 characters (e.g. `openssl rand -base64 32`)').optional(),
    ),
    // Which job groups this worker runs (src/jobs/groups.ts); `npm run worker -- --jobs webhooks` says the same.
    WORKER_JOBS: z.preprocess(
      (v) => commaList(emptyToUndefined(v)),
      z
        .array(z.enum(JOB_GROUP_NAMES, { error: `must be a comma list of ${JOB_GROUP_NAMES.join(', ')}` }))
        .min(1, `must name at least one of ${JOB_GROUP_NAMES.join(', ')}`)
        .default([...JOB_GROUP_NAMES]),
    ),
  })
  .extend(embeddedSettingsSchema.shape)
  .superRefine((c, ctx) => {
    if (c.NODE_ENV === 'production') {
      if (!c.JWT_SECRET) ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'is required in production' });
      if (!c.SENDGRID_API_KEY)
        ctx.addIssue({ code: 'custom', path: ['SENDGRID_API_KEY'], message: 'is required in production' });
      if (!c.MONGODB_URI) ctx.addIssue({ code: 'custom', path: ['MONGODB_URI'], message: 'is required in production' });
      if (!c.PUBLIC_URL) ctx.addIssue({ code: 'custom', path: ['PUBLIC_URL'], message: 'is required in production' });
    }
    if (c.CRASH_POINT && c.NODE_ENV !== 'test')
      ctx.addIssue({ code: 'custom', path: ['CRASH_POINT'], message: 'is for tests only (NODE_ENV=test)' });
    if (c.JWT_SECRET && c.JWT_SECRET.length < 16)
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'must be at least 16 characters' });
  });

function isIpOrSubnet(text: string): boolean {
  const [address, prefix, ...rest] = text.split('/');
  return rest.length === 0 && isIP(address!) !== 0 && (prefix === undefined || /^\d{1,3}$/.test(prefix));
}

function isOrigin(text: string): boolean {
  try {
    return new URL(text).origin === text;
  } catch {
    return false;
  }
}

export type Config = Readonly<
  Omit<z.infer<typeof configSchema>, 'GRAPHQL_INTROSPECTION'> & {
    JWT_SECRET: string;
    GRAPHQL_INTROSPECTION: IntrospectionMode;
    PUBLIC_URL: string;
  }
>;

export class ConfigError extends Error {}

/** One line naming the first bad variable, and its value unless it is a secret. */
function configError(error: z.ZodError, env: NodeJS.ProcessEnv): ConfigError {
  const issue = error.issues[0]!;
  const name = String(issue.path[0] ?? 'environment');
  const value = env[name];
  const shown = name.includes('SECRET') || name.includes('KEY') || value === undefined ? '' : ` (got "${value}")`;
  return new ConfigError(`Invalid configuration: ${name} ${issue.message}${shown}`);
}

/** Parses an environment; throws ConfigError whose message is one line naming the first bad variable. */
export function parseConfig(env: NodeJS.ProcessEnv): Config {
  const result = configSchema.safeParse(env);
  if (!result.success) throw configError(result.error, env);
  const c = result.data;
  // Development without a secret: a fixed, loudly-named one so tokens survive restarts of `npm start`.
  return Object.freeze({
    ...c,
    JWT_SECRET: c.JWT_SECRET ?? 'insecure-development-secret-change-me',
    // Production hides the schema from all but admins unless told otherwise; development shows it to everyone.
    GRAPHQL_INTROSPECTION: c.GRAPHQL_INTROSPECTION ?? (c.NODE_ENV === 'production' ? 'admins' : 'on'),
    PUBLIC_URL: c.PUBLIC_URL ?? `http://localhost:${c.PORT}`,
  });
}

/** The process's configuration, read once by an entry point; on a bad value prints one line and exits 1. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/** Milliseconds of a length of time that passed validation ("5 minutes", "500 ms", "2 seconds"). */
export function intervalMs(text: string): number {
  const n = ms(text as ms.StringValue);
  if (!Number.isFinite(n)) throw new Error(`not a length of time: ${text}`);
  return n;
}
