// Agendash, the job dashboard (the seed's Flower), for admins only. Its page and assets come from the agendash
// package itself (no CDN: it works offline and behind firewalls) and its API reads the jobs through an Agenda
// instance that never processes any: this server only schedules.
import express, { type RequestHandler, type Router } from 'express';
import type { Agenda } from 'agenda';
import { createExpressMiddleware } from 'agendash';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { LoginLimiter } from '../security/login-limits.js';
import { adminOnly, sameOriginWrites } from './auth.js';
import { clusterStatus } from './cluster-status.js';

export const JOBS_DASHBOARD_PATH = '/admin/jobs';

/** The dashboard's router, to mount at JOBS_DASHBOARD_PATH. */
export function jobsDashboard(opts: {
  agenda: Agenda;
  config: Config;
  log: Logger;
  loginLimiter: LoginLimiter;
  /** The live feed (GET …/api/events, ./job-events.ts): Agendash's own needs a notification channel we lack. */
  events: RequestHandler;
}): Router {
  const router = express.Router();
  router.use(trailingSlash());
  router.use(adminOnly({ config: opts.config, log: opts.log, loginLimiter: opts.loginLimiter }));
  router.use(sameOriginWrites());
  router.use((req, res, next) => {
    // Job data names reservations and customers: never kept by a browser or a proxy. (The assets are the
    // agendash package's own, content-hashed: those may be cached.)
    if (!req.path.startsWith('/assets/')) res.set('Cache-Control', 'no-store');
    next();
  });
  router.get('/api/stats', clusterStatus(opts.agenda));
  router.get('/api/events', opts.events);
  router.use(createExpressMiddleware(opts.agenda));
  return router;
}

/**
 * The page loads `./assets/…` and calls `./api`: relative to `/admin/jobs/`, not to `/admin/jobs`. Express gives
 * a router mounted at a path the same `/` for both, so the bare path is redirected here.
 */
function trailingSlash(): RequestHandler {
  return (req, res, next) => {
    const [pathname, query] = splitOnce(req.originalUrl, '?');
    if (req.path === '/' && !pathname.endsWith('/') && (req.method === 'GET' || req.method === 'HEAD')) {
      res.redirect(301, `${pathname}/${query === undefined ? '' : `?${query}`}`);
      return;
    }
    next();
  };
}

function splitOnce(text: string, sep: string): [string, string | undefined] {
  const i = text.indexOf(sep);
  return i < 0 ? [text, undefined] : [text.slice(0, i), text.slice(i + 1)];
}
