// The one mail renderer: MJML templates from emails/, compiled once per process, filled per email.
//
// MJML 5's compiler is asynchronous (mjml2html returns a Promise) and slow (tens of milliseconds), so each
// template is compiled a single time into a list of segments. Rendering an email only walks those segments,
// HTML-escaping every value, which keeps it cheap and makes injection impossible: values are never parsed
// as markup or as placeholders.
//
// Template syntax, applied to the compiled HTML:
//   {{name}}               the HTML-escaped value of `name`
//   {{#name}}…{{/name}}    the enclosed HTML only when `name` is a non-empty string
//                          (placed in <mj-raw> so MJML passes the markers through untouched)
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mjml2html from 'mjml';
import { displayName } from '../lib/display-name.js';

export type EmailKind = 'new-reservation-admin' | 'reservation-confirmed' | 'reservation-cancelled' | 'reservation-reminder';

export interface EmailFacts {
  customer: { email: string; username: string; firstName?: string | null; lastName?: string | null };
  reference: string;
  startTime: Date;
  status: string;
  partySize: number;
  notes?: string | null;
  cancellationReason?: string | null;
  /** The customer's manage link (confirmation and reminder emails). */
  manageUrl?: string;
}

export interface RenderOptions {
  businessName: string;
  timeZone: string;
  adminEmail: string;
  from: string;
}

/** A file sent with an email, as SendGrid's API takes it (and the outbox stores it). */
export interface EmailAttachment {
  /** Base64. */
  content: string;
  filename: string;
  /** The MIME type, e.g. `text/calendar; method=REQUEST; charset=utf-8`. */
  type: string;
  disposition: 'attachment';
}

export interface RenderedEmail {
  to: string;
  from: string;
  subject: string;
  html: string;
  text: string;
  attachments?: EmailAttachment[];
}

export const EMAIL_KINDS: readonly EmailKind[] = Object.freeze([
  'new-reservation-admin',
  'reservation-confirmed',
  'reservation-cancelled',
  'reservation-reminder',
]);

/** The placeholders each template must use: a template missing one, or using another, fails to compile. */
const TEMPLATE_FIELDS: Readonly<Record<EmailKind, readonly string[]>> = Object.freeze({
  'new-reservation-admin': ['businessName', 'customerName', 'customerEmail', 'reference', 'date', 'time', 'partySize', 'notes'],
  'reservation-confirmed': ['businessName', 'customerName', 'reference', 'date', 'time', 'partySize', 'status', 'manageUrl'],
  'reservation-cancelled': ['businessName', 'customerName', 'reference', 'date', 'time', 'partySize', 'status', 'reason'],
  'reservation-reminder': ['businessName', 'customerName', 'reference', 'date', 'time', 'partySize', 'status', 'manageUrl'],
});

// ---------------------------------------------------------------------------------------------------------
// Formatting

type FormatterKind = 'date' | 'time';

function newFormatter(kind: FormatterKind, timeZone: string): Intl.DateTimeFormat {
  return kind === 'date'
    ? new Intl.DateTimeFormat('en-GB', { timeZone, day: '2-digit', month: '2-digit', year: 'numeric' })
    : new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
}

/** Where formatters come from: a renderer keeps one per (kind, time zone), because they are costly to build. */
type Formatters = (kind: FormatterKind, timeZone: string) => Intl.DateTimeFormat;

// Built from formatToParts rather than format() so the layout never depends on the locale's punctuation.
function parts(f: Intl.DateTimeFormat, d: Date): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of f.formatToParts(d)) out[p.type] = p.value;
  return out;
}

/** `dd/mm/YYYY` in the given IANA time zone. */
export function formatDate(d: Date, tz: string, formatters: Formatters = newFormatter): string {
  const p = parts(formatters('date', tz), d);
  return `${p.day}/${p.month}/${p.year}`;
}

/** `HH:MM`, 24-hour clock, in the given IANA time zone. */
export function formatTime(d: Date, tz: string, formatters: Formatters = newFormatter): string {
  const p = parts(formatters('time', tz), d);
  return `${p.hour}:${p.minute}`;
}

/** `CONFIRMED` → `Confirmed`, `NO_SHOW` → `No show`. */
export function humanStatus(status: string): string {
  const words = status.trim().toLowerCase().replace(/_+/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);
}

const HTML_ENTITIES: Readonly<Record<string, string>> = Object.freeze({
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
});

// ---------------------------------------------------------------------------------------------------------
// Templates: located, compiled once, cached

type Segment =
  | { type: 'html'; html: string }
  | { type: 'value'; name: string }
  | { type: 'section'; name: string; body: Segment[] };

/**
 * The `emails/` directory. Found by walking up from this module, because the module runs from `src/mail/`
 * under Jest and from `dist/src/mail/` once built.
 */
export function templatesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'emails');
    if (existsSync(join(candidate, 'new-reservation-admin.mjml'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`email templates not found: no emails/ directory above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

async function compileAll(): Promise<Map<EmailKind, Segment[]>> {
  const dir = templatesDir();
  const entries = await Promise.all(
    EMAIL_KINDS.map(async (kind) => {
      const filePath = join(dir, `${kind}.mjml`);
      const result = await mjml2html(readFileSync(filePath, 'utf8'), {
        validationLevel: 'strict',
        keepComments: false,
        filePath,
      });
      const segments = parseTemplate(result.html, filePath);
      checkFields(segments, TEMPLATE_FIELDS[kind], filePath);
      return [kind, segments] as const;
    }),
  );
  return new Map(entries);
}

const TAG = /\{\{\s*([#/]?)([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g;

function parseTemplate(html: string, file: string): Segment[] {
  const root: Segment[] = [];
  const stack: { name: string; body: Segment[] }[] = [];
  let current = root;
  let last = 0;
  for (const m of html.matchAll(TAG)) {
    if (m.index > last) current.push({ type: 'html', html: html.slice(last, m.index) });
    last = m.index + m[0].length;
    const [, sigil, name] = m as unknown as [string, string, string];
    if (sigil === '#') {
      const section: Segment = { type: 'section', name, body: [] };
      current.push(section);
      stack.push({ name, body: current });
      current = section.body;
    } else if (sigil === '/') {
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`${file}: {{/${name}}} does not close an open section`);
      current = open.body;
    } else {
      current.push({ type: 'value', name });
    }
  }
  if (stack.length) throw new Error(`${file}: section {{#${stack.at(-1)!.name}}} is never closed`);
  if (last < html.length) current.push({ type: 'html', html: html.slice(last) });
  return root;
}

function checkFields(segments: Segment[], fields: readonly string[], file: string): void {
  const used = new Set<string>();
  const visit = (list: Segment[]) => {
    for (const s of list) {
      if (s.type === 'html') continue;
      used.add(s.name);
      if (s.type === 'section') visit(s.body);
    }
  };
  visit(segments);
  const unknown = [...used].filter((n) => !fields.includes(n));
  const missing = fields.filter((n) => !used.has(n));
  if (unknown.length) throw new Error(`${file}: unknown placeholder(s) ${unknown.join(', ')}`);
  if (missing.length) throw new Error(`${file}: missing placeholder(s) ${missing.join(', ')}`);
}

function fill(segments: Segment[], values: Readonly<Record<string, string>>): string {
  let out = '';
  for (const s of segments) {
    if (s.type === 'html') out += s.html;
    else if (s.type === 'value') out += escapeHtml(values[s.name] ?? '');
    else if (values[s.name]) out += fill(s.body, values);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Emails

type Fields = {
  businessName: string;
  customerName: string;
  customerEmail: string;
  reference: string;
  date: string;
  time: string;
  status: string;
  reason: string;
  partySize: string;
  notes: string;
  manageUrl: string;
};

interface KindSpec {
  subject(f: Fields): string;
  to(facts: EmailFacts, o: RenderOptions): string;
  text(f: Fields): string;
}

type CustomerTextParts = { news: string; details?: string[]; closing: string };

/** An email to the reservation's customer: a fixed subject, and the customer layout of the plain-text part. */
function customerEmail(subject: string, parts: (f: Fields) => CustomerTextParts): KindSpec {
  return { subject: () => subject, to: (facts) => facts.customer.email, text: (f) => customerText(f, parts(f)) };
}

/** Subject, recipient and plain-text part of each kind; the HTML part comes from its template. */
const KINDS: Readonly<Record<EmailKind, KindSpec>> = Object.freeze({
  'new-reservation-admin': {
    subject: (f) => `🔔 New Reservation #${f.reference} - Action Required`,
    to: (_facts, o) => o.adminEmail,
    text: (f) =>
      lines(
        'New reservation: action required',
        '',
        'A customer has made a new reservation. It stays pending until an admin confirms or cancels it.',
        '',
        `Customer:  ${f.customerName}`,
        `Email:     ${f.customerEmail}`,
        `Reference: ${f.reference}`,
        `Date:      ${f.date}`,
        `Time:      ${f.time}`,
        `Party:     ${f.partySize}`,
        ...(f.notes ? ['', 'Notes from the customer:', f.notes] : []),
        '',
        '--',
        `${f.businessName} · Reservation notifications for administrators.`,
      ),
  },
  'reservation-confirmed': customerEmail('Your Reservation is Confirmed!', (f) => ({
    news: 'Good news: your reservation has been confirmed. We look forward to seeing you.',
    details: manageLines(f),
    closing: 'Please keep your reference handy; it helps us find your booking quickly. The attached invite adds it to your calendar.',
  })),
  'reservation-cancelled': customerEmail('Your Reservation has been Cancelled', (f) => ({
    news: "We're sorry to let you know that your reservation has been cancelled.",
    details: f.reason ? ['', 'Reason:', f.reason] : [],
    closing: 'If you would like to book another time, we will be glad to see you.',
  })),
  'reservation-reminder': {
    subject: (f) => `Reminder: your reservation on ${f.date} at ${f.time}`,
    to: (facts) => facts.customer.email,
    text: (f) =>
      customerText(f, {
        news: `A reminder of your reservation on ${f.date} at ${f.time}. We look forward to seeing you.`,
        details: manageLines(f),
        closing: 'Please keep your reference handy; it helps us find your booking quickly.',
      }),
  },
});

function manageLines(f: Fields): string[] {
  return f.manageUrl ? ['', 'To see or cancel your reservation:', f.manageUrl] : [];
}

/** `1 person`, `4 people`. */
export const partyOf = (n: number) => `${n} ${n === 1 ? 'person' : 'people'}`;

/** The plain-text layout of every email to a customer: greeting, the news, the reservation, a closing line. */
function customerText(f: Fields, parts: CustomerTextParts): string {
  return lines(
    `Hi ${f.customerName},`,
    '',
    parts.news,
    '',
    `Reference: ${f.reference}`,
    `Date:      ${f.date}`,
    `Time:      ${f.time}`,
    `Party:     ${f.partySize}`,
    `Status:    ${f.status}`,
    ...(parts.details ?? []),
    '',
    parts.closing,
    '',
    '--',
    `${f.businessName} · This is an automated message about reservation ${f.reference}.`,
  );
}

function lines(...l: string[]): string {
  return `${l.join('\n')}\n`;
}

// Single-line fields stay on one line (a newline in a name must not break the subject or the text layout).
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

export interface MailRenderer {
  /** Compiles the templates (the first call; later calls share it). Call it at start-up to fail fast on a broken one. */
  compile(): Promise<void>;
  /** Renders one email; waits for the compilation the first time only. */
  render(kind: EmailKind, facts: EmailFacts, opts: RenderOptions): Promise<RenderedEmail>;
  /** How many times this renderer compiled the template set (each time all of them). */
  compileCount(): number;
}

/** The renderer a process (a worker) uses: MJML compiled once, formatters built once per time zone. */
export function createMailRenderer(): MailRenderer {
  let compiled: Promise<Map<EmailKind, Segment[]>> | undefined;
  let compilations = 0;
  const formatterCache = new Map<string, Intl.DateTimeFormat>();
  const formatters: Formatters = (kind, timeZone) => {
    const key = `${kind}|${timeZone}`;
    let f = formatterCache.get(key);
    if (!f) formatterCache.set(key, (f = newFormatter(kind, timeZone)));
    return f;
  };

  function templates(): Promise<Map<EmailKind, Segment[]>> {
    if (!compiled) {
      compilations += 1;
      const attempt = compileAll();
      compiled = attempt;
      // A failure is not cached, so a later call can retry (for instance once a missing file is deployed).
      attempt.catch(() => {
        if (compiled === attempt) compiled = undefined;
      });
    }
    return compiled;
  }

  return {
    compile: async () => void (await templates()),
    compileCount: () => compilations,
    async render(kind, facts, opts) {
      const compiledTemplates = await templates();
      const spec = KINDS[kind];
      if (!spec) throw new Error(`unknown email kind: ${String(kind)}`);

      const fields: Fields = {
        businessName: oneLine(opts.businessName),
        customerName: oneLine(displayName(facts.customer)),
        customerEmail: oneLine(facts.customer.email),
        reference: oneLine(facts.reference),
        date: formatDate(facts.startTime, opts.timeZone, formatters),
        time: formatTime(facts.startTime, opts.timeZone, formatters),
        status: humanStatus(facts.status),
        reason: facts.cancellationReason?.trim() ?? '',
        partySize: partyOf(facts.partySize),
        notes: facts.notes?.trim() ?? '',
        manageUrl: facts.manageUrl ?? '',
      };

      return {
        to: spec.to(facts, opts),
        from: opts.from,
        subject: spec.subject(fields),
        html: fill(compiledTemplates.get(kind)!, fields),
        text: spec.text(fields),
      };
    },
  };
}
