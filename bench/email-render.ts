// `email-render`: 1,000 emails (the three kinds in turn, different customers and times).
//
//   project         the real renderer (src/mail/render.ts `createMailRenderer`): MJML compiled once per renderer, each
//                   email fills the compiled HTML
//   mjml-per-email  the naive way: the values put into the MJML source (HTML-escaped), then mjml2html for every
//                   email, with the renderer's own options
//
// Both in this process, after a warm-up (which includes the project's one-time compilation: a worker does it at
// start-up, see src/worker.ts). The two must produce the same HTML; the run fails if they do not.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mjml2html from 'mjml';
import {
  EMAIL_KINDS,
  createMailRenderer,
  formatDate,
  partyOf,
  formatTime,
  humanStatus,
  escapeHtml,
  templatesDir,
  type EmailFacts,
  type EmailKind,
  type RenderOptions,
} from '../src/mail/render.js';
import { displayName } from '../src/lib/display-name.js';
import type { Benchmark } from './support/harness.js';
import { median, sig } from './support/harness.js';

const OPTIONS: RenderOptions = {
  businessName: 'Chez Bench & Fils',
  timeZone: 'Europe/Paris',
  adminEmail: 'owner@restaurant.test',
  from: 'Reservations <noreply@restaurant.test>',
};

function emails(count: number): { kind: EmailKind; facts: EmailFacts }[] {
  return Array.from({ length: count }, (_, i) => {
    const kind = EMAIL_KINDS[i % EMAIL_KINDS.length]!;
    return {
      kind,
      facts: {
        customer: { email: `guest${i}@example.com`, username: `guest${i}`, firstName: i % 2 ? `Zoë <${i}>` : null, lastName: 'O’Brien' },
        reference: `R${(100000 + i).toString(32).toUpperCase()}`,
        startTime: new Date(Date.UTC(2031, i % 12, 1 + (i % 28), 11 + (i % 10), (i * 7) % 60)),
        status: kind === 'reservation-cancelled' ? 'CANCELLED' : kind === 'reservation-confirmed' ? 'CONFIRMED' : 'PENDING',
        cancellationReason: kind === 'reservation-cancelled' && i % 2 ? `Kitchen closed "${i}"` : null,
        partySize: 1 + (i % 8),
        notes: i % 3 ? null : `Window table <please> ${i}`,
        manageUrl: `https://book.restaurant.test/manage/token-${i}`,
      },
    };
  });
}

// The naive renderer: fill the MJML source, compile it.
const sources = new Map<EmailKind, { mjml: string; filePath: string }>();
function source(kind: EmailKind) {
  let s = sources.get(kind);
  if (!s) {
    const filePath = join(templatesDir(), `${kind}.mjml`);
    s = { mjml: readFileSync(filePath, 'utf8'), filePath };
    sources.set(kind, s);
  }
  return s;
}

async function renderNaively(kind: EmailKind, facts: EmailFacts, o: RenderOptions): Promise<string> {
  const oneLine = (v: string) => v.replace(/\s+/g, ' ').trim();
  const values: Record<string, string> = {
    businessName: oneLine(o.businessName),
    customerName: oneLine(displayName(facts.customer)),
    customerEmail: oneLine(facts.customer.email),
    reference: oneLine(facts.reference),
    date: formatDate(facts.startTime, o.timeZone),
    time: formatTime(facts.startTime, o.timeZone),
    status: humanStatus(facts.status),
    reason: facts.cancellationReason?.trim() ?? '',
    partySize: partyOf(facts.partySize),
    notes: facts.notes?.trim() ?? '',
    manageUrl: facts.manageUrl ?? '',
  };
  const { mjml, filePath } = source(kind);
  const filled = mjml
    .replace(/\{\{\s*#(\w+)\s*\}\}([\s\S]*?)\{\{\s*\/\1\s*\}\}/g, (_m, name: string, body: string) => (values[name] ? body : ''))
    .replace(/\{\{\s*(\w+)\s*\}\}/g, (_m, name: string) => escapeHtml(values[name] ?? ''));
  const result = await mjml2html(filled, { validationLevel: 'strict', keepComments: false, filePath });
  return result.html;
}

export const emailRender: Benchmark = {
  name: 'email-render',
  async run(ctx) {
    const count = ctx.options.smoke ? 30 : 1000;
    const list = emails(count);
    const renderer = createMailRenderer();
    const renderEmail = renderer.render;
    const compileStarted = performance.now();
    await renderer.compile();
    const compileOnceMs = performance.now() - compileStarted;

    // Same output both ways, or the comparison means nothing.
    for (const { kind, facts } of list.slice(0, 6)) {
      const [a, b] = [(await renderEmail(kind, facts, OPTIONS)).html, await renderNaively(kind, facts, OPTIONS)];
      if (a !== b) throw new Error(`email-render: the naive renderer's HTML differs from the project's for ${kind}`);
    }

    // Warm-ups long enough for the JIT to settle: the project's renders take microseconds.
    const variants: Record<string, { repetitions: number; warmup: number; render: (e: (typeof list)[number]) => Promise<unknown> }> = {
      project: { repetitions: ctx.options.smoke ? 2 : 7, warmup: 3 * count, render: (e) => renderEmail(e.kind, e.facts, OPTIONS) },
      'mjml-per-email': { repetitions: ctx.options.smoke ? 1 : 3, warmup: Math.min(50, count), render: (e) => renderNaively(e.kind, e.facts, OPTIONS) },
    };
    for (const [variant, v] of Object.entries(variants)) {
      for (let i = 0; i < v.warmup; i++) await v.render(list[i % count]!);
      const rates: number[] = [];
      for (let rep = 0; rep < v.repetitions; rep++) {
        const t = performance.now();
        for (const e of list) await v.render(e);
        rates.push((count / (performance.now() - t)) * 1000);
      }
      ctx.log(`email-render ${variant}: ${rates.map((r) => r.toFixed(0)).join(', ')} renders/s`);
      ctx.record({
        benchmark: 'email-render',
        variant,
        metric: 'renders_per_s',
        value: sig(median(rates)),
        params: { emails: count, repetitions: v.repetitions, ...(variant === 'project' ? { compileOnceMs: Math.round(compileOnceMs) } : {}) },
      });
    }
    ctx.compare({ benchmark: 'email-render', metric: 'renders_per_s', variant: 'project', baseline: 'mjml-per-email', goal: '≥ 100×', atLeast: 100 });
  },
};
