// One webhook request: POST the signed payload, no redirects followed, the whole exchange bounded by
// WEBHOOK_TIMEOUT, the connection's DNS lookup refusing private addresses (url-safety.ts), and no more than the
// first 1 KB of the answer read. node:http rather than fetch: fetch takes no `lookup`, and the check must be on
// the address actually connected to.
import http from 'node:http';
import https from 'node:https';
import { assertLiteralAllowed, guardedLookup, type UrlRules } from './url-safety.js';

export const RESPONSE_LOG_BYTES = 1024;

export interface SendResult {
  statusCode?: number;
  durationMs: number;
  response?: string;
  error?: string;
}

export async function sendWebhook(
  urlText: string,
  headers: Record<string, string>,
  body: string,
  opts: { timeoutMs: number; rules: UrlRules },
): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let url: URL;
  try {
    url = new URL(urlText);
    assertLiteralAllowed(url, opts.rules);
  } catch (err) {
    return { durationMs: elapsed(), error: (err as Error).message };
  }
  const client = url.protocol === 'https:' ? https : http;
  const lookup = guardedLookup(opts.rules);
  return new Promise<SendResult>((resolve) => {
    const req = client.request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'reservation-webhooks/1', ...headers, 'content-length': Buffer.byteLength(body) },
        signal: AbortSignal.timeout(opts.timeoutMs),
        // A fresh connection per request: no agent pool to hold sockets to slow endpoints.
        agent: false,
        ...(lookup ? { lookup } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < RESPONSE_LOG_BYTES) chunks.push(chunk.subarray(0, RESPONSE_LOG_BYTES - size));
          size += chunk.length;
          // Enough read: the rest of a large answer is not our business.
          if (size >= RESPONSE_LOG_BYTES) res.destroy();
        });
        const done = () =>
          resolve({
            statusCode: res.statusCode,
            durationMs: elapsed(),
            response: Buffer.concat(chunks).toString('utf8'),
          });
        res.on('end', done);
        res.on('close', done);
        res.on('error', done);
      },
    );
    req.on('error', (err) => {
      const timedOut = err.name === 'AbortError' || err.name === 'TimeoutError';
      resolve({ durationMs: elapsed(), error: timedOut ? `timed out after ${opts.timeoutMs} ms` : err.message });
    });
    req.end(body);
  });
}
