// HTTP-level protections: who the client is (behind proxies), response headers, CORS, and the request body
// that reaches Apollo (size, batching, and body errors answered as GraphQL errors rather than HTML pages).
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import cors from 'cors';
import helmet from 'helmet';
import type { Logger } from 'pino';
import type { Config } from '../config.js';

/** Settings for the whole app; call before any route is added. */
export function applyHttpSecurity(app: Express, c: Config): void {
  // req.ip, and through it the per-address log-in limit, trusts X-Forwarded-For only from these proxies.
  app.set('trust proxy', c.TRUST_PROXY);
  // nosniff, Referrer-Policy, X-Frame-Options, HSTS, COOP/CORP and friends on every response. No
  // Content-Security-Policy here: the policy depends on the page, so each HTML route sets its own (the
  // GraphQL IDE does, in src/ide/); JSON responses have nothing for one to protect.
  app.use(helmet({ contentSecurityPolicy: false }));
  // CORS on the GraphQL endpoint, ahead of every route there: Express answers an OPTIONS request itself for a
  // path that has routes (the IDE's GET), which would swallow the browser's preflight. No origin is allowed
  // unless listed. Tokens travel in the Authorization header, never in cookies, so credentials stay off.
  app.use('/graphql', cors({ origin: c.CORS_ORIGINS.length > 0 ? c.CORS_ORIGINS : false, maxAge: 600 }));
}

/** The middleware in front of Apollo on the GraphQL path, in order. */
export function graphqlRequestGuards(c: Config, log: Logger): (RequestHandler | ErrorRequestHandler)[] {
  return [noStore, express.json({ limit: c.REQUEST_BODY_LIMIT }), batchLimit(c.MAX_BATCH), bodyErrors(c, log)];
}

/** No GraphQL answer is cacheable: each depends on who asks. (Set here, once, rather than by Apollo's cache-control
 *  plugin, which is off: it wraps every field of every response to compute hints nothing here sets.) */
const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  next();
};

function batchLimit(max: number): RequestHandler {
  return (req, res, next) => {
    // Each operation of a batch gets the full per-operation limits, so the batch size is what bounds a request.
    // With MAX_BATCH=1 Apollo refuses every batch itself (allowBatchedHttpRequests is off).
    if (Array.isArray(req.body) && req.body.length > max) {
      res
        .status(400)
        .json(
          badRequest(
            `A batch may hold at most ${max} operation${max === 1 ? '' : 's'} (MAX_BATCH); this one has ${req.body.length}`,
          ),
        );
      return;
    }
    next();
  };
}

/** body-parser's errors (too large, not JSON, bad encoding) as a GraphQL response, not Express's HTML page. */
function bodyErrors(c: Config, log: Logger): ErrorRequestHandler {
  return (err: BodyReadError, _req, res, next) => {
    const status = err.status ?? err.statusCode;
    // Only the client's mistakes are answered here; anything else is a server error for Express to handle.
    if (res.headersSent || !status || status < 400 || status >= 500) {
      next(err);
      return;
    }
    const message =
      err.type === 'entity.too.large'
        ? `The request body is larger than the limit of ${err.limit} bytes (REQUEST_BODY_LIMIT=${c.REQUEST_BODY_LIMIT})`
        : err.type === 'entity.parse.failed'
          ? 'The request body is not valid JSON (a GraphQL request is a JSON object)'
          : err.expose
            ? err.message
            : 'The request body could not be read';
    log.debug({ type: err.type, status }, 'refused a GraphQL request body');
    res.status(status).json(badRequest(message));
  };
}

/** What body-parser (through http-errors) and the decompressors it uses attach to their errors. */
interface BodyReadError extends Error {
  type?: string;
  status?: number;
  statusCode?: number;
  /** Whether the message is meant for the client. */
  expose?: boolean;
  limit?: number;
}

/** The shape and code Apollo itself uses for requests it refuses before running them. */
const badRequest = (message: string) => ({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] });
