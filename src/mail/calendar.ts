// The calendar invite sent with a confirmation (reservation.ics), and its withdrawal sent with the cancellation.
//
// One event per reservation, under a UID that never changes, so a calendar that imported the invite replaces or
// removes that same entry: the confirmation is METHOD:REQUEST at SEQUENCE 0, the cancellation METHOD:CANCEL,
// STATUS:CANCELLED at SEQUENCE 1 (RFC 5546: a higher sequence supersedes). Times are written in UTC (no VTIMEZONE
// to get wrong); the venue's zone travels as X-WR-TIMEZONE for the calendars that display it.
import ical, { ICalAttendeeRole, ICalAttendeeStatus, ICalCalendarMethod, ICalEventStatus } from 'ical-generator';
import { intervalMs, type Config } from '../config.js';
import { displayName } from '../lib/display-name.js';
import { partyOf, type EmailAttachment } from './render.js';

export type InviteSettings = Pick<
  Config,
  'BUSINESS_NAME' | 'BUSINESS_ADDRESS' | 'MAIL_FROM' | 'PUBLIC_URL' | 'DISPLAY_TIMEZONE' | 'CALENDAR_EVENT_DURATION'
>;

export interface InviteFacts {
  reservationId: string;
  reference: string;
  startTime: Date;
  partySize: number;
  customer: { email: string; username: string; firstName?: string | null; lastName?: string | null };
  /** When the change the email is about was made (DTSTAMP). */
  at: Date;
  manageUrl?: string;
}

/** The invite's UID: the reservation's, in the venue's domain. */
export function inviteUid(reservationId: string, c: Pick<Config, 'PUBLIC_URL'>): string {
  return `reservation-${reservationId}@${new URL(c.PUBLIC_URL).hostname}`;
}

/** `Name <address>` or a bare address, as MAIL_FROM is written. */
function mailbox(text: string): { name?: string; email: string } {
  const m = /^\s*"?([^"<]*?)"?\s*<([^>]+)>\s*$/.exec(text);
  return m ? { ...(m[1] ? { name: m[1] } : {}), email: m[2]!.trim() } : { email: text.trim() };
}

export function reservationInvite(facts: InviteFacts, kind: 'request' | 'cancel', c: InviteSettings): EmailAttachment {
  const cancel = kind === 'cancel';
  const method = cancel ? ICalCalendarMethod.CANCEL : ICalCalendarMethod.REQUEST;
  const calendar = ical({ prodId: { company: 'reservation-status-automation', product: 'reservations', language: 'EN' }, method });
  calendar.x('X-WR-TIMEZONE', c.DISPLAY_TIMEZONE);
  const from = mailbox(c.MAIL_FROM);
  calendar.createEvent({
    id: inviteUid(facts.reservationId, c),
    sequence: cancel ? 1 : 0,
    stamp: facts.at,
    start: facts.startTime,
    end: new Date(facts.startTime.getTime() + intervalMs(c.CALENDAR_EVENT_DURATION)),
    summary: `Reservation at ${c.BUSINESS_NAME}`,
    description: [
      `Reservation ${facts.reference} for ${partyOf(facts.partySize)}.`,
      ...(facts.manageUrl ? [`See or cancel it: ${facts.manageUrl}`] : []),
    ].join('\n'),
    ...(c.BUSINESS_ADDRESS ? { location: c.BUSINESS_ADDRESS } : {}),
    organizer: { name: c.BUSINESS_NAME, email: from.email },
    attendees: [
      {
        email: facts.customer.email,
        name: displayName(facts.customer),
        role: ICalAttendeeRole.REQ,
        status: cancel ? ICalAttendeeStatus.DECLINED : ICalAttendeeStatus.ACCEPTED,
        rsvp: false,
      },
    ],
    status: cancel ? ICalEventStatus.CANCELLED : ICalEventStatus.CONFIRMED,
  });
  return {
    content: Buffer.from(calendar.toString(), 'utf8').toString('base64'),
    filename: 'reservation.ics',
    type: `text/calendar; method=${method}; charset=UTF-8`,
    disposition: 'attachment',
  };
}
