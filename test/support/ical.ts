// Reading the calendar invites emails carry with an independent parser (ical.js), as a calendar would.
import ICAL from 'ical.js';

export interface ParsedInvite {
  method: string;
  timezone: string | null;
  uid: string;
  sequence: number;
  status: string;
  start: Date;
  end: Date;
  summary: string;
  description: string;
  location: string | null;
  organizer: { cn: string | null; address: string };
  attendees: string[];
}

// URI schemes are case-insensitive (RFC 3986): ical-generator writes attendees as `MAILTO:`.
const address = (value: unknown) => String(value).replace(/^mailto:/i, 'mailto:');

/** An email attachment's base64 content as the one VEVENT of its VCALENDAR. */
export function parseInvite(base64: string): ParsedInvite {
  const calendar = new ICAL.Component(ICAL.parse(Buffer.from(base64, 'base64').toString('utf8')));
  const vevents = calendar.getAllSubcomponents('vevent');
  if (vevents.length !== 1) throw new Error(`expected one VEVENT, found ${vevents.length}`);
  const vevent = vevents[0]!;
  const event = new ICAL.Event(vevent);
  const organizer = vevent.getFirstProperty('organizer')!;
  return {
    method: String(calendar.getFirstPropertyValue('method')),
    timezone: (calendar.getFirstPropertyValue('x-wr-timezone') as string | null) ?? null,
    uid: event.uid,
    sequence: event.sequence,
    status: String(vevent.getFirstPropertyValue('status')),
    start: event.startDate.toJSDate(),
    end: event.endDate.toJSDate(),
    summary: event.summary,
    description: event.description,
    location: event.location ?? null,
    organizer: { cn: (organizer.getParameter('cn') as string | undefined) ?? null, address: address(organizer.getFirstValue()) },
    attendees: vevent.getAllProperties('attendee').map((p) => address(p.getFirstValue())),
  };
}
