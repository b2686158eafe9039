// `${PUBLIC_URL}/manage/<token>`: a customer's reservation from the link in their email, without an account or a
// GraphQL client. GET only shows (mail scanners and link previews open links: they must change nothing); the
// page's form POSTs the cancellation, which goes through the status pipeline like the mutation, as the customer.
import express, { Router, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { Reservation } from '../models/reservation.js';
import { ReservationStatus } from '../models/status.js';
import { TransitionError } from '../status/errors.js';
import { FINAL_STATUSES } from '../status/lifecycle.js';
import { cancellationClosed, type Clock, type StatusService } from '../status/service.js';
import { MANAGE_CSP, renderPage, type PageContent, type PageReservation } from './page.js';
import { ManageLinkError, verifyManageToken, type ManageClaims } from './token.js';

export const MANAGE_PATH = '/manage';

export interface ManageDeps {
  config: Config;
  status: StatusService;
  clock: Clock;
  log: Logger;
}

const FINAL_WORDS: Readonly<Partial<Record<ReservationStatus, string>>> = Object.freeze({
  [ReservationStatus.CANCELLED]: 'This reservation has been cancelled.',
  [ReservationStatus.COMPLETED]: 'This reservation has taken place.',
  [ReservationStatus.NO_SHOW]: 'This reservation has passed.',
});

const MAX_REASON = 500;

export function manageRoutes({ config: c, status, clock, log }: ManageDeps): Router {
  const router = Router();
  const options = {
    businessName: c.BUSINESS_NAME,
    timeZone: c.DISPLAY_TIMEZONE,
    businessAddress: c.BUSINESS_ADDRESS,
    businessContact: c.BUSINESS_CONTACT,
  };
  const send = (res: Response, code: number, content: PageContent) =>
    res
      .status(code)
      .set({
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': MANAGE_CSP,
        // The token is in the URL: never cached on the way, never sent on as a referrer.
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
        'x-robots-tag': 'noindex',
      })
      .send(renderPage(content, options));

  const refused = (res: Response, err: ManageLinkError) =>
    err.reason === 'expired'
      ? send(res, 410, { title: 'This link has expired', messages: ['Manage links work until the reservation starts.'], tone: 'notice', contact: true })
      : send(res, 404, { title: 'This link is not valid', messages: ['Please use the link from your latest email about the reservation.'], tone: 'notice', contact: true });

  /** The token's reservation, or the page that says why there is none. */
  async function load(req: Request, res: Response): Promise<{ claims: ManageClaims; reservation: PageReservation } | undefined> {
    let claims: ManageClaims;
    try {
      claims = await verifyManageToken(String(req.params.token), c);
    } catch (err) {
      if (!(err instanceof ManageLinkError)) throw err;
      refused(res, err);
      return undefined;
    }
    const doc = await Reservation.findOne(
      { _id: claims.reservationId, customer: claims.customerId },
      { reference: 1, startTime: 1, partySize: 1, status: 1 },
    ).lean();
    if (!doc) {
      refused(res, new ManageLinkError('invalid'));
      return undefined;
    }
    return { claims, reservation: { reference: doc.reference, startTime: doc.startTime, partySize: doc.partySize, status: doc.status } };
  }

  const finalPage = (res: Response, reservation: PageReservation) =>
    send(res, 409, {
      title: 'Nothing to change',
      messages: [FINAL_WORDS[reservation.status as ReservationStatus] ?? 'This reservation can no longer be changed.'],
      tone: 'notice',
      reservation,
    });
  const closedPage = (res: Response, code: number, reservation: PageReservation) =>
    send(res, code, {
      title: 'Your reservation',
      messages: ['It is too close to the start to cancel online.'],
      tone: 'notice',
      reservation,
      contact: true,
    });

  router.get('/:token', async (req, res, next) => {
    try {
      const found = await load(req, res);
      if (!found) return;
      const { reservation } = found;
      if (FINAL_STATUSES.includes(reservation.status as ReservationStatus)) return finalPage(res, reservation);
      if (cancellationClosed(reservation.startTime, clock.now(), c)) return closedPage(res, 200, reservation);
      send(res, 200, { title: 'Your reservation', reservation, cancellable: true });
    } catch (err) {
      next(err);
    }
  });

  router.post('/:token', express.urlencoded({ extended: false, limit: '10kb' }), async (req, res, next) => {
    try {
      const found = await load(req, res);
      if (!found) return;
      const { claims, reservation } = found;
      const raw = (req.body as { reason?: unknown } | undefined)?.reason;
      const reason = typeof raw === 'string' ? raw.trim() || null : null;
      if (reason && reason.length > MAX_REASON) {
        return send(res, 400, { title: 'Your reservation', messages: [`The reason may be at most ${MAX_REASON} characters.`], tone: 'notice', reservation, cancellable: true });
      }
      try {
        const doc = await status.transition({
          id: claims.reservationId,
          to: ReservationStatus.CANCELLED,
          actor: `customer:${claims.customerId.toHexString()}`,
          reason,
          scope: { customer: claims.customerId },
        });
        log.info({ reservationId: claims.reservationId.toHexString() }, 'reservation cancelled by its customer from the manage link');
        send(res, 200, {
          title: 'Your reservation has been cancelled',
          messages: ['We have sent you a confirmation by email.'],
          tone: 'done',
          reservation: { ...reservation, status: doc.status },
        });
      } catch (err) {
        if (!(err instanceof TransitionError)) throw err;
        if (err.kind === 'CANCELLATION_CLOSED') return closedPage(res, 409, reservation);
        if (err.kind === 'NOT_FOUND') return refused(res, new ManageLinkError('invalid'));
        const now = await Reservation.findById(claims.reservationId, { status: 1 }).lean();
        return finalPage(res, { ...reservation, status: now?.status ?? reservation.status });
      }
    } catch (err) {
      next(err);
    }
  });

  return router;
}
