// The manage page: small, server-rendered, accessible, no scripts and no external assets (it must work from any
// mail client's browser, without JavaScript, behind any firewall). Every value is HTML-escaped.
import { createHash } from 'node:crypto';
import { escapeHtml, formatDate, formatTime, humanStatus, partyOf } from '../mail/render.js';

const CSS = `
:root { color-scheme: light; }
body { margin: 0; background: #f2f4f7; color: #1f2933; font: 16px/1.6 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
header { background: #1f2933; color: #fff; padding: 16px 24px; font-weight: 700; font-size: 18px; }
main { max-width: 560px; margin: 24px auto; background: #fff; border-radius: 8px; padding: 24px; }
h1 { font-size: 22px; line-height: 1.3; margin: 0 0 16px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0 0 20px; }
dt { color: #52606d; }
dd { margin: 0; font-weight: 600; }
label { display: block; font-weight: 600; margin-bottom: 4px; }
textarea { width: 100%; box-sizing: border-box; font: inherit; padding: 8px; border: 1px solid #7b8794; border-radius: 6px; }
button { margin-top: 12px; font: inherit; font-weight: 600; color: #fff; background: #b42318; border: 0; border-radius: 6px; padding: 10px 18px; cursor: pointer; }
button:focus-visible, textarea:focus-visible { outline: 3px solid #1d4ed8; outline-offset: 2px; }
.notice { background: #fffaeb; border-left: 4px solid #b54708; padding: 12px 16px; margin: 0 0 16px; }
.done { background: #ecfdf3; border-left: 4px solid #067647; padding: 12px 16px; margin: 0 0 16px; }
`;

/** The Content-Security-Policy of every manage page: its one inline style sheet, and forms back to this server. */
export const MANAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'`,
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface PageReservation {
  reference: string;
  startTime: Date;
  partySize: number;
  status: string;
}

export interface PageOptions {
  businessName: string;
  timeZone: string;
  businessAddress?: string;
  businessContact?: string;
}

export interface PageContent {
  title: string;
  /** Paragraphs under the title; `tone` colours the first. */
  messages?: string[];
  tone?: 'notice' | 'done';
  reservation?: PageReservation;
  /** Show the cancel form. */
  cancellable?: boolean;
  /** Show how to reach the venue. */
  contact?: boolean;
}

const para = (text: string, cls?: string) => `<p${cls ? ` class="${cls}"` : ''}>${escapeHtml(text)}</p>`;

export function renderPage(content: PageContent, o: PageOptions): string {
  const r = content.reservation;
  const details = r
    ? `<dl>
  <dt>Reference</dt><dd>${escapeHtml(r.reference)}</dd>
  <dt>Date</dt><dd>${escapeHtml(formatDate(r.startTime, o.timeZone))}</dd>
  <dt>Time</dt><dd>${escapeHtml(formatTime(r.startTime, o.timeZone))}</dd>
  <dt>Party</dt><dd>${escapeHtml(partyOf(r.partySize))}</dd>
  <dt>Status</dt><dd>${escapeHtml(humanStatus(r.status))}</dd>${
    o.businessAddress ? `\n  <dt>Address</dt><dd>${escapeHtml(o.businessAddress)}</dd>` : ''
  }
</dl>`
    : '';
  const messages = (content.messages ?? []).map((m, i) => para(m, i === 0 ? content.tone : undefined)).join('\n');
  const contact = content.contact && o.businessContact ? para(`To change or cancel it, contact us: ${o.businessContact}`) : '';
  // No action attribute: the form posts back to the page's own URL, token included.
  const form = content.cancellable
    ? `<form method="post">
  <label for="reason">Reason (optional)</label>
  <textarea id="reason" name="reason" rows="3" maxlength="500"></textarea>
  <button type="submit">Cancel reservation</button>
</form>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(content.title)} · ${escapeHtml(o.businessName)}</title>
<style>${CSS}</style>
</head>
<body>
<header>${escapeHtml(o.businessName)}</header>
<main>
<h1>${escapeHtml(content.title)}</h1>
${messages}
${details}
${contact}
${form}
</main>
</body>
</html>
`;
}
