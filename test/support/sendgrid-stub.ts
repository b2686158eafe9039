// A local stand-in for SendGrid's v3 API (`POST /v3/mail/send`), so tests exercise the real @sendgrid/mail
// client over real HTTP. It checks the bearer key, records what it accepts and can be told to fail or stall.
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubMessage {
  /** Recipients' addresses, `, `-joined (a single address for this project's emails). */
  to: string;
  /** `Name <email>` when the sender has a display name, else the bare address. */
  from: string;
  subject: string;
  html: string;
  text: string;
  customArgs: Record<string, string>;
  /** The email's headers (the request body's `headers`), not the HTTP request's. */
  headers: Record<string, string>;
  receivedAt: Date;
  /** Attachments as sent (`content` in base64). */
  attachments: { content: string; filename: string; type?: string; disposition?: string }[];
  /** The request body as SendGrid received it, for anything the fields above leave out. */
  body: SendGridBody;
}

export interface SendGridStub {
  /** Base URL to hand to the client, e.g. `http://127.0.0.1:39215`. */
  readonly url: string;
  readonly apiKey: string;
  /** Accepted messages, oldest first. */
  readonly messages: StubMessage[];
  /** Every request received, failed ones included. */
  readonly requestCount: number;
  /** Delay before each answer, in ms. The message is still accepted after a delay the client gave up on,
   *  as a real provider would: that is the duplicate-send hazard idempotency keys exist for. */
  delayMs: number;
  /** The next `n` mail requests fail with `status` and a SendGrid-shaped error body. */
  failNext(n: number, status?: number, message?: string): void;
  /** Resolves with the messages once `count` have been accepted in total; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<StubMessage[]>;
  /** Drops the delayed requests still pending without accepting them: the connection broke before the provider
   *  took the message (what a sender killed mid-send leaves when the provider never got the whole request). */
  abortPending(): void;
  /** Forgets messages, faults, delay and delayed answers still pending (between tests sharing one stub). */
  reset(): void;
  close(): Promise<void>;
}

interface Address {
  email: string;
  name?: string;
}

interface SendGridBody {
  personalizations?: { to?: Address[]; subject?: string; custom_args?: Record<string, string>; headers?: Record<string, string> }[];
  from?: Address;
  subject?: string;
  content?: { type: string; value: string }[];
  custom_args?: Record<string, string>;
  headers?: Record<string, string>;
  [key: string]: unknown;
}

const sendgridError = (message: string, field: string | null = null) => ({
  errors: [{ message, field, help: null }],
});

export async function startSendGridStub(opts: { apiKey?: string } = {}): Promise<SendGridStub> {
  const apiKey = opts.apiKey ?? 'SG.test-key';
  const messages: StubMessage[] = [];
  const events = new EventEmitter();
  events.setMaxListeners(0);
  // Delayed answers not yet sent, so reset() and close() can drop them.
  const pending = new Map<NodeJS.Timeout, ServerResponse>();
  let faults: { remaining: number; status: number; message: string } = { remaining: 0, status: 500, message: '' };
  let requestCount = 0;
  let closed = false;

  const answer = (res: ServerResponse, status: number, body?: unknown) => {
    if (res.destroyed) return;
    if (body === undefined) {
      res.writeHead(status).end();
    } else {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    }
  };

  const later = (res: ServerResponse, fn: () => void) => {
    if (stub.delayMs <= 0) return fn();
    const t = setTimeout(() => {
      pending.delete(t);
      fn();
    }, stub.delayMs);
    pending.set(t, res);
  };

  const dropPending = () => {
    for (const [t, res] of pending) {
      clearTimeout(t);
      res.destroy();
    }
    pending.clear();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || req.url !== '/v3/mail/send') {
      return answer(res, 404, sendgridError(`stub: no route for ${req.method} ${req.url}`));
    }
    requestCount += 1;
    const raw = await readBody(req);

    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      return later(res, () => answer(res, 401, sendgridError('The provided authorization grant is invalid, expired, or revoked')));
    }
    if (faults.remaining > 0) {
      faults.remaining -= 1;
      const { status, message } = faults;
      return later(res, () => answer(res, status, sendgridError(message)));
    }

    let body: SendGridBody;
    try {
      body = JSON.parse(raw) as SendGridBody;
    } catch {
      return later(res, () => answer(res, 400, sendgridError('Invalid JSON payload')));
    }
    const invalid = validate(body);
    if (invalid) return later(res, () => answer(res, 400, sendgridError(invalid.message, invalid.field)));

    later(res, () => {
      messages.push(toMessage(body));
      events.emit('message');
      answer(res, 202);
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => answer(res, 500, sendgridError(`stub error: ${String(err)}`)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const stub: SendGridStub = {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    messages,
    get requestCount() {
      return requestCount;
    },
    delayMs: 0,

    failNext(n, status = 500, message = `Simulated SendGrid failure (HTTP ${status})`) {
      faults = { remaining: n, status, message };
    },

    waitFor(count, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        if (messages.length >= count) return resolve(messages.slice());
        const onMessage = () => {
          if (messages.length < count) return;
          done();
          resolve(messages.slice());
        };
        const onClose = () => {
          done();
          reject(new Error(`SendGrid stub closed while waiting for ${count} message(s); received ${messages.length}`));
        };
        const timer = setTimeout(() => {
          done();
          const subjects = messages.map((m) => `"${m.subject}" → ${m.to}`).join(', ') || 'none';
          reject(
            new Error(
              `SendGrid stub: expected ${count} message(s) within ${timeoutMs} ms, received ${messages.length} (${subjects}); ` +
                `${requestCount} request(s) in total`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          events.off('message', onMessage);
          events.off('close', onClose);
        };
        events.on('message', onMessage);
        events.on('close', onClose);
      });
    },

    abortPending() {
      dropPending();
    },

    reset() {
      dropPending();
      messages.length = 0;
      faults = { remaining: 0, status: 500, message: '' };
      stub.delayMs = 0;
      requestCount = 0;
    },

    async close() {
      if (closed) return;
      closed = true;
      dropPending();
      events.emit('close');
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return stub;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The checks SendGrid makes that a client bug could trip; returns the first failure. */
function validate(body: SendGridBody): { message: string; field: string } | undefined {
  if (!Array.isArray(body.personalizations) || body.personalizations.length === 0)
    return { message: 'The personalizations field is required and must have at least one personalization.', field: 'personalizations' };
  if (body.personalizations.some((p) => !Array.isArray(p.to) || p.to.length === 0 || p.to.some((a) => !a?.email)))
    return { message: 'The to array is required for all personalization objects, and must have at least one email object with a valid email address.', field: 'personalizations.0.to' };
  if (!body.from?.email) return { message: 'The from object must be provided for every email send.', field: 'from' };
  if (!body.subject && body.personalizations.some((p) => !p.subject))
    return { message: 'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.', field: 'subject' };
  if (!Array.isArray(body.content) || body.content.length === 0 || body.content.some((c) => !c?.type || !c.value))
    return { message: 'Unless a valid template_id is provided, the content parameter is required.', field: 'content' };
  if (body.content[0]!.type !== 'text/plain' && body.content.some((c) => c.type === 'text/plain'))
    return { message: 'If present, text/plain content must be first, followed by any other content.', field: 'content' };
  const attachments = (body.attachments ?? []) as { content?: unknown; filename?: unknown }[];
  if (!Array.isArray(attachments) || attachments.some((x) => typeof x?.filename !== 'string' || !x.filename))
    return { message: 'The attachment filename parameter is required.', field: 'attachments.filename' };
  if (attachments.some((x) => typeof x.content !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(x.content)))
    return { message: 'The attachment content must be base64 encoded.', field: 'attachments.content' };
  return undefined;
}

function toMessage(body: SendGridBody): StubMessage {
  const personalizations = body.personalizations ?? [];
  const first = personalizations[0];
  const content = (type: string) => body.content?.find((c) => c.type === type)?.value ?? '';
  return {
    to: personalizations.flatMap((p) => (p.to ?? []).map(formatAddress)).join(', '),
    from: body.from ? formatAddress(body.from) : '',
    subject: first?.subject ?? body.subject ?? '',
    html: content('text/html'),
    text: content('text/plain'),
    customArgs: { ...body.custom_args, ...first?.custom_args },
    attachments: (body.attachments ?? []) as StubMessage['attachments'],
    headers: { ...body.headers, ...first?.headers },
    receivedAt: new Date(),
    body,
  };
}

function formatAddress(a: Address): string {
  return a.name ? `${a.name} <${a.email}>` : a.email;
}
