// Where rendered emails go: SendGrid when an API key is configured, otherwise an outbox folder of JSON files
// (development and tests can read exactly what would have been sent).
//
// A transport delivers; it does not deduplicate. "At most one successful send per idempotency key" is the
// email job's job. The key still travels with every message (SendGrid custom arg and header, outbox file
// name) so a duplicate can always be traced.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';
import type { RenderedEmail } from './render.js';

export interface OutgoingEmail extends RenderedEmail {
  /** Idempotency key: the id of the status event the email is about. */
  key: string;
}

export interface MailTransport {
  readonly name: 'sendgrid' | 'outbox';
  send(email: OutgoingEmail): Promise<void>;
}

/**
 * A send the provider refused or that never reached it. `status` is the provider's HTTP status when it
 * answered; `retryable` tells the job whether trying again can help (network trouble, 408, 429, 5xx).
 */
export class MailSendError extends Error {
  override readonly name = 'MailSendError';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly providerMessages: readonly string[] = [],
  ) {
    super(message);
  }

  get retryable(): boolean {
    return this.status === undefined || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export interface SendGridOptions {
  apiKey: string;
  /** API base URL, e.g. a local stub's `http://127.0.0.1:PORT`; SendGrid's own when omitted. */
  baseUrl?: string;
  /** Per-request timeout; a hung provider must not hold a job's lock forever. */
  timeoutMs?: number;
}

export class SendGridTransport implements MailTransport {
  readonly name = 'sendgrid' as const;
  // An instance of its own rather than @sendgrid/mail's process-wide singleton, so two transports (or a
  // test and the app) never share a key or a base URL.
  private readonly mail = new MailService();
  private readonly apiKey: string;

  constructor({ apiKey, baseUrl, timeoutMs = 15_000 }: SendGridOptions) {
    this.apiKey = apiKey;
    const client = new Client();
    client.setApiKey(apiKey);
    // After setApiKey: it resets the base URL to the key's region.
    if (baseUrl) client.setDefaultRequest('baseUrl', baseUrl);
    this.mail.setClient(client);
    this.mail.setTimeout(timeoutMs);
  }

  async send(email: OutgoingEmail): Promise<void> {
    try {
      await this.mail.send({
        to: email.to,
        from: email.from,
        subject: email.subject,
        text: email.text,
        html: email.html,
        ...(email.attachments?.length ? { attachments: email.attachments } : {}),
        customArgs: { idempotency_key: email.key },
        headers: { 'X-Idempotency-Key': email.key },
      });
    } catch (err) {
      throw this.describe(err);
    }
  }

  /**
   * A clean error from whatever the SendGrid client threw. The original is deliberately not kept as `cause`:
   * it carries the HTTP request, Authorization header included, and would leak the key into logs.
   */
  private describe(err: unknown): MailSendError {
    const e = err as { code?: unknown; message?: unknown; response?: { body?: unknown } };
    const status = typeof e.code === 'number' && e.response ? e.code : undefined;
    if (status === undefined) {
      const reason = typeof e.message === 'string' && e.message ? e.message : String(err);
      return new MailSendError(this.redact(`SendGrid request failed: ${reason}`), undefined);
    }
    const messages = providerMessages(e.response?.body).map((m) => this.redact(m));
    const detail = messages.length ? messages.join('; ') : this.redact(String(e.message ?? 'no details'));
    return new MailSendError(`SendGrid rejected the email: HTTP ${status}: ${detail}`, status, messages);
  }

  private redact(text: string): string {
    return this.apiKey ? text.split(this.apiKey).join('[redacted]') : text;
  }
}

/** `errors[].message` of a SendGrid error body (parsed JSON, or a string when it was not JSON). */
function providerMessages(body: unknown): string[] {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.trim() ? [body.trim().slice(0, 500)] : [];
    }
  }
  const errors = (parsed as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors
    .map((x) => (x as { message?: unknown } | null)?.message)
    .filter((m): m is string => typeof m === 'string' && m.length > 0);
}

/**
 * Writes each email as `<dir>/<sentAt>-<key>.json` holding `{to, from, subject, html, text, sentAt, key}`, and
 * `attachments` when it has any.
 * Written to a temporary name and renamed, so a reader never sees a half-written file.
 */
export class OutboxTransport implements MailTransport {
  readonly name = 'outbox' as const;

  constructor(readonly dir: string) {}

  async send(email: OutgoingEmail): Promise<void> {
    const sentAt = new Date().toISOString();
    const record = {
      to: email.to,
      from: email.from,
      subject: email.subject,
      html: email.html,
      text: email.text,
      sentAt,
      key: email.key,
      // As SendGrid's API takes them: { content (base64), filename, type, disposition }.
      ...(email.attachments?.length ? { attachments: email.attachments } : {}),
    };
    // ':' and '.' are not portable in file names; the key is sanitised so it can never escape the folder.
    const name = `${sentAt.replace(/[:.]/g, '-')}-${email.key.replace(/[^A-Za-z0-9_-]/g, '_')}.json`;
    const tmp = join(this.dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    await mkdir(this.dir, { recursive: true });
    try {
      await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`, { flag: 'wx' });
      await rename(tmp, join(this.dir, name));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
}

export function createTransport(opts: { apiKey?: string; baseUrl?: string; outboxDir: string }): MailTransport {
  return opts.apiKey
    ? new SendGridTransport({ apiKey: opts.apiKey, baseUrl: opts.baseUrl })
    : new OutboxTransport(opts.outboxDir);
}
