// A customer's webhook receiver, as its owner would write it: a local HTTP server (127.0.0.1) that verifies every
// request with the `standardwebhooks` library against the secrets it knows, and records what it received. Tests
// tell it how to answer (a status, or hang without answering) and wait for what it got.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { pollUntil } from './poll.js';

export interface ReceivedWebhook {
  webhookId: string;
  timestamp: string;
  signature: string;
  /** The parsed body: `{ type, timestamp, data: { reservation, event } }`. */
  payload: any;
  /** Indexes (in `secrets`) of the secrets whose signature verified. */
  verifiedWith: number[];
  receivedAt: Date;
}

/** How to answer one request: a status code (and body), or hang until the request times out or the test ends. */
export type Answer = { status: number; body?: string } | 'hang';

export interface WebhookReceiver {
  url: string;
  /** The secrets requests are verified against (the endpoint's, set once created; a rotated one added). */
  secrets: string[];
  /** Every verified request, oldest first (unverified ones are answered 401 and kept in `rejected`). */
  received: ReceivedWebhook[];
  rejected: { headers: IncomingMessage['headers']; body: string; error: string }[];
  /** Every request, verified or not, as it arrived (a hanging one included). */
  requestCount: number;
  /** Decides each answer (default: 204). */
  answer: (got: ReceivedWebhook) => Answer;
  /** Resolves once `count` verified requests match `filter`. */
  waitFor(count: number, filter?: (w: ReceivedWebhook) => boolean, timeoutMs?: number): Promise<ReceivedWebhook[]>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const hanging = new Set<ServerResponse>();
  const receiver: WebhookReceiver = {
    url: '',
    secrets: [],
    received: [],
    rejected: [],
    requestCount: 0,
    answer: () => ({ status: 204 }),
    waitFor: (count, filter = () => true, timeoutMs = 20_000) =>
      pollUntil(
        async () => receiver.received.filter(filter),
        (found) => found.length >= count,
        `${count} webhooks at ${receiver.url}`,
        timeoutMs,
      ),
    close: () =>
      new Promise((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const server = createServer(async (req, res) => {
    receiver.requestCount += 1;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = {
      'webhook-id': String(req.headers['webhook-id'] ?? ''),
      'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
      'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
    };
    const verifiedWith: number[] = [];
    let lastError = 'no secret';
    receiver.secrets.forEach((secret, i) => {
      try {
        new Webhook(secret).verify(body, headers);
        verifiedWith.push(i);
      } catch (err) {
        lastError = (err as Error).message;
      }
    });
    if (verifiedWith.length === 0) {
      receiver.rejected.push({ headers: req.headers, body, error: lastError });
      return res.writeHead(401).end('signature did not verify');
    }
    const got: ReceivedWebhook = {
      webhookId: headers['webhook-id'],
      timestamp: headers['webhook-timestamp'],
      signature: headers['webhook-signature'],
      payload: JSON.parse(body),
      verifiedWith,
      receivedAt: new Date(),
    };
    receiver.received.push(got);
    const answer = receiver.answer(got);
    if (answer === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return receiver;
}
