import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { displayName as customerName } from '../src/lib/display-name.js';
import {
  createMailRenderer,
  formatDate,
  formatTime,
  type EmailFacts,
  type EmailKind,
  type RenderOptions,
} from '../src/mail/render.js';
import { createTransport, MailSendError, OutboxTransport, SendGridTransport } from '../src/mail/transport.js';
import { startSendGridStub, type SendGridStub } from './support/sendgrid-stub.js';

// One renderer for the file, as a worker has one for its life.
const { render: renderEmail, compileCount } = createMailRenderer();

const opts: RenderOptions = {
  businessName: 'Chez Test Bistro',
  timeZone: 'UTC',
  adminEmail: 'admin@bistro.test',
  from: 'Chez Test Bistro <noreply@bistro.test>',
};

function facts(overrides: Partial<EmailFacts> = {}): EmailFacts {
  return {
    customer: { email: 'jane@example.com', username: 'jane99', firstName: 'Jane', lastName: 'Doe' },
    reference: 'K7M2Q9XB',
    startTime: new Date('2025-03-31T16:30:00Z'),
    status: 'CONFIRMED',
    partySize: 4,
    cancellationReason: null,
    ...overrides,
  };
}

describe('rendering emails', () => {
  // First in the file, so it covers the very first compilation, started by many renders at once.
  it('compiles each template once, however many emails are rendered', async () => {
    const kinds: EmailKind[] = ['new-reservation-admin', 'reservation-confirmed', 'reservation-cancelled'];
    const renders = Array.from({ length: 300 }, (_, i) => renderEmail(kinds[i % 3]!, facts({ reference: `REF${i}` }), opts));
    const emails = await Promise.all(renders);
    expect(emails[299]!.html).toContain('REF299');
    await renderEmail('reservation-confirmed', facts(), opts);
    expect(compileCount()).toBe(1);
  });

  it('new reservation: tells the admin who booked, with the reference in the subject', async () => {
    const email = await renderEmail('new-reservation-admin', facts({ status: 'PENDING' }), opts);
    expect(email.subject).toBe('🔔 New Reservation #K7M2Q9XB - Action Required');
    expect(email.to).toBe('admin@bistro.test');
    expect(email.from).toBe('Chez Test Bistro <noreply@bistro.test>');
    for (const part of [email.html, email.text]) {
      expect(part).toContain('Jane Doe');
      expect(part).toContain('jane@example.com');
      expect(part).toContain('K7M2Q9XB');
      expect(part).toContain('31/03/2025');
      expect(part).toContain('16:30');
      expect(part).toContain('Chez Test Bistro');
    }
  });

  it('confirmed: tells the customer, with the status spelled for humans', async () => {
    const email = await renderEmail('reservation-confirmed', facts(), opts);
    expect(email.subject).toBe('Your Reservation is Confirmed!');
    expect(email.to).toBe('jane@example.com');
    expect(email.from).toBe(opts.from);
    for (const part of [email.html, email.text]) {
      expect(part).toContain('Jane Doe');
      expect(part).toContain('K7M2Q9XB');
      expect(part).toContain('31/03/2025');
      expect(part).toContain('16:30');
      expect(part).toContain('Confirmed');
      expect(part).not.toContain('CONFIRMED');
      expect(part).toContain('Chez Test Bistro');
    }
    expect(email.text).toContain('Status:    Confirmed');
  });

  it('cancelled: tells the customer, and gives the reason when there is one', async () => {
    const withReason = await renderEmail(
      'reservation-cancelled',
      facts({ status: 'CANCELLED', cancellationReason: 'The kitchen is closed for repairs' }),
      opts,
    );
    expect(withReason.subject).toBe('Your Reservation has been Cancelled');
    expect(withReason.to).toBe('jane@example.com');
    for (const part of [withReason.html, withReason.text]) {
      expect(part).toContain('Jane Doe');
      expect(part).toContain('K7M2Q9XB');
      expect(part).toContain('31/03/2025');
      expect(part).toContain('16:30');
      expect(part).toContain('Cancelled');
      expect(part).toContain('Reason');
      expect(part).toContain('The kitchen is closed for repairs');
      expect(part).toContain('Chez Test Bistro');
    }

    for (const reason of [null, undefined, '', '   ']) {
      const without = await renderEmail('reservation-cancelled', facts({ status: 'CANCELLED', cancellationReason: reason }), opts);
      expect(without.subject).toBe('Your Reservation has been Cancelled');
      expect(without.html).not.toContain('Reason');
      expect(without.text).not.toContain('Reason');
      expect(without.html).toContain('K7M2Q9XB');
    }
  });

  it('the HTML is MJML output with every placeholder filled', async () => {
    for (const kind of ['new-reservation-admin', 'reservation-confirmed', 'reservation-cancelled'] as const) {
      const { html } = await renderEmail(kind, facts({ cancellationReason: 'Because' }), opts);
      expect(html.startsWith('<!doctype html>')).toBe(true);
      expect(html).toContain('@media only screen'); // responsive column rules
      expect(html).toContain('<title>');
      expect(html).not.toMatch(/\{\{|\}\}/);
    }
  });

  it('shows date and time in the display time zone, across midnight and new year', async () => {
    // 15:05 UTC on New Year's Eve is 00:05 on 1 January in Tokyo (UTC+9).
    const startTime = new Date('2025-12-31T15:05:00Z');
    const tokyo = await renderEmail('reservation-confirmed', facts({ startTime }), { ...opts, timeZone: 'Asia/Tokyo' });
    for (const part of [tokyo.html, tokyo.text]) {
      expect(part).toContain('01/01/2026');
      expect(part).toContain('00:05');
      expect(part).not.toContain('31/12/2025');
    }
    const utc = await renderEmail('reservation-confirmed', facts({ startTime }), opts);
    expect(utc.text).toContain('Date:      31/12/2025');
    expect(utc.text).toContain('Time:      15:05');

    expect(formatDate(startTime, 'Asia/Tokyo')).toBe('01/01/2026');
    expect(formatTime(startTime, 'Asia/Tokyo')).toBe('00:05');
    expect(formatDate(new Date('2025-07-04T03:07:00Z'), 'America/New_York')).toBe('03/07/2025');
    expect(formatTime(new Date('2025-07-04T03:07:00Z'), 'America/New_York')).toBe('23:07');
    expect(formatTime(new Date('2025-07-04T00:00:00Z'), 'UTC')).toBe('00:00');
  });

  it('names the customer "First Last", or the first name alone, or else the username', async () => {
    const base = { email: 'x@example.com', username: 'xavier_1' };
    expect(customerName({ ...base, firstName: 'Ada', lastName: 'Lovelace' })).toBe('Ada Lovelace');
    expect(customerName({ ...base, firstName: '  Ada ', lastName: ' Lovelace  ' })).toBe('Ada Lovelace');
    expect(customerName({ ...base, firstName: 'Ada', lastName: null })).toBe('Ada');
    expect(customerName({ ...base, firstName: 'Ada', lastName: '  ' })).toBe('Ada');
    expect(customerName({ ...base, firstName: null, lastName: 'Lovelace' })).toBe('xavier_1');
    expect(customerName({ ...base, firstName: '   ', lastName: 'Lovelace' })).toBe('xavier_1');
    expect(customerName(base)).toBe('xavier_1');

    const firstOnly = await renderEmail(
      'reservation-confirmed',
      facts({ customer: { ...base, firstName: 'Ada', lastName: null } }),
      opts,
    );
    expect(firstOnly.text).toContain('Hi Ada,');
    const noFirst = await renderEmail('new-reservation-admin', facts({ customer: { ...base, lastName: 'Lovelace' } }), opts);
    expect(noFirst.text).toContain('Customer:  xavier_1');
    expect(noFirst.html).toContain('xavier_1');
    expect(noFirst.html).not.toContain('Lovelace');
  });

  it('escapes every value in the HTML part', async () => {
    const hostile = facts({
      status: 'CANCELLED',
      customer: {
        email: 'a"b@example.com',
        username: 'u',
        firstName: '<script>alert(1)</script>',
        lastName: `O'Brien & "Sons"`,
      },
      reference: '<b>REF</b>',
      cancellationReason: '<img src=x onerror=alert(2)>',
    });
    const hostileOpts = { ...opts, businessName: 'Bistro <i>&</i> Bar' };
    for (const kind of ['new-reservation-admin', 'reservation-confirmed', 'reservation-cancelled'] as const) {
      const { html } = await renderEmail(kind, hostile, hostileOpts);
      expect(html).not.toContain('<script>');
      expect(html).not.toContain('<b>REF');
      expect(html).not.toContain('<i>&');
      expect(html).not.toContain('<img');
      expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; O&#39;Brien &amp; &quot;Sons&quot;');
      expect(html).toContain('Bistro &lt;i&gt;&amp;&lt;/i&gt; Bar');
    }
    const admin = await renderEmail('new-reservation-admin', hostile, hostileOpts);
    expect(admin.html).toContain('href="mailto:a&quot;b@example.com"');
    const cancelled = await renderEmail('reservation-cancelled', hostile, hostileOpts);
    expect(cancelled.html).toContain('&lt;img src=x onerror=alert(2)&gt;');
    // The plain-text part is not HTML: it carries the values verbatim.
    expect(cancelled.text).toContain(`Hi <script>alert(1)</script> O'Brien & "Sons",`);
    expect(cancelled.text).toContain('<img src=x onerror=alert(2)>');
  });

  it('treats values that look like placeholders as plain text', async () => {
    const email = await renderEmail(
      'reservation-cancelled',
      facts({ customer: { email: 'e@example.com', username: '{{reference}}' }, cancellationReason: '{{/reason}}{{businessName}}' }),
      opts,
    );
    expect(email.html).toContain('Hi {{reference}},');
    expect(email.html).toContain('{{/reason}}{{businessName}}');
  });
});

describe('SendGridTransport', () => {
  let stub: SendGridStub;
  beforeAll(async () => {
    stub = await startSendGridStub({ apiKey: 'SG.stub-secret-key' });
  });
  afterAll(async () => {
    await stub.close();
  });
  beforeEach(() => stub.reset());

  it('delivers html and text to SendGrid with the idempotency key', async () => {
    const transport = new SendGridTransport({ apiKey: 'SG.stub-secret-key', baseUrl: stub.url });
    const email = await renderEmail('reservation-confirmed', facts(), opts);
    await transport.send({ ...email, key: '665f1c2ab3d4e5f601234567' });

    const [received] = await stub.waitFor(1);
    expect(received!.to).toBe('jane@example.com');
    expect(received!.from).toBe('Chez Test Bistro <noreply@bistro.test>');
    expect(received!.subject).toBe('Your Reservation is Confirmed!');
    expect(received!.html).toBe(email.html);
    expect(received!.text).toBe(email.text);
    expect(received!.customArgs).toEqual({ idempotency_key: '665f1c2ab3d4e5f601234567' });
    expect(received!.headers).toEqual({ 'X-Idempotency-Key': '665f1c2ab3d4e5f601234567' });
    expect(stub.messages).toHaveLength(1);
  });

  it('a provider failure surfaces as an error naming the status and the provider message, never the key', async () => {
    const transport = createTransport({ apiKey: 'SG.stub-secret-key', baseUrl: stub.url, outboxDir: '/nonexistent' });
    const email = { ...(await renderEmail('reservation-confirmed', facts(), opts)), key: 'evt-1' };

    stub.failNext(1, 503, 'Service temporarily unavailable');
    const err = await transport.send(email).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MailSendError);
    expect((err as MailSendError).message).toBe('SendGrid rejected the email: HTTP 503: Service temporarily unavailable');
    expect((err as MailSendError).status).toBe(503);
    expect((err as MailSendError).retryable).toBe(true);
    expect(JSON.stringify(err)).not.toContain('stub-secret-key');
    expect(stub.messages).toHaveLength(0);

    // Only the programmed number of requests fail.
    await transport.send(email);
    await stub.waitFor(1);

    stub.failNext(1, 400, 'The from email does not contain a valid address.');
    await expect(transport.send(email)).rejects.toMatchObject({
      message: 'SendGrid rejected the email: HTTP 400: The from email does not contain a valid address.',
      status: 400,
      retryable: false,
    });
  });

  it('a wrong API key is rejected as 401 without the key appearing in the error', async () => {
    const transport = new SendGridTransport({ apiKey: 'SG.wrong-secret', baseUrl: stub.url });
    const email = { ...(await renderEmail('reservation-confirmed', facts(), opts)), key: 'evt-2' };
    const err = (await transport.send(email).catch((e: unknown) => e)) as MailSendError;
    expect(err.message).toMatch(/HTTP 401: The provided authorization grant is invalid/);
    expect(err.message).not.toContain('wrong-secret');
    expect(err.stack ?? '').not.toContain('wrong-secret');
    expect(err.cause).toBeUndefined();
  });

  it('a provider that does not answer in time fails the send as retryable', async () => {
    const transport = new SendGridTransport({ apiKey: 'SG.stub-secret-key', baseUrl: stub.url, timeoutMs: 100 });
    const email = { ...(await renderEmail('reservation-confirmed', facts(), opts)), key: 'evt-3' };
    stub.delayMs = 400;
    const err = (await transport.send(email).catch((e: unknown) => e)) as MailSendError;
    expect(err).toBeInstanceOf(MailSendError);
    expect(err.message).toMatch(/^SendGrid request failed: .*timeout/i);
    expect(err.status).toBeUndefined();
    expect(err.retryable).toBe(true);
    // The provider may still deliver what the client gave up on: why each email carries an idempotency key.
    const [late] = await stub.waitFor(1, 2_000);
    expect(late!.customArgs.idempotency_key).toBe('evt-3');
  });
});

describe('OutboxTransport', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'outbox-test-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes one JSON file per email, named by time and key, with exactly the documented fields', async () => {
    const dir = join(root, 'nested', 'outbox'); // does not exist yet
    const transport = createTransport({ outboxDir: dir });
    expect(transport.name).toBe('outbox');
    const confirmed = await renderEmail('reservation-confirmed', facts(), opts);
    const admin = await renderEmail('new-reservation-admin', facts(), opts);

    const before = Date.now();
    await transport.send({ ...confirmed, key: 'evt-a' });
    await transport.send({ ...admin, key: 'evt-b' });

    const files = (await readdir(dir)).sort();
    expect(files).toHaveLength(2); // and no temporary files left behind
    const byKey = new Map<string, Record<string, unknown>>();
    for (const file of files) {
      expect(file).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-evt-[ab]\.json$/);
      const record = JSON.parse(await readFile(join(dir, file), 'utf8')) as Record<string, unknown>;
      expect(Object.keys(record)).toEqual(['to', 'from', 'subject', 'html', 'text', 'sentAt', 'key']);
      expect(file.startsWith(String(record.sentAt).replace(/[:.]/g, '-'))).toBe(true);
      expect(Date.parse(String(record.sentAt))).toBeGreaterThanOrEqual(before - 1);
      byKey.set(String(record.key), record);
    }
    expect(byKey.get('evt-a')).toMatchObject({ ...confirmed, key: 'evt-a' });
    expect(byKey.get('evt-b')).toMatchObject({ ...admin, key: 'evt-b' });
  });

  it('keeps a hostile key inside the outbox folder', async () => {
    const dir = join(root, 'hostile');
    const email = await renderEmail('reservation-confirmed', facts(), opts);
    await new OutboxTransport(dir).send({ ...email, key: '../../escape/me' });
    const files = await readdir(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/-______escape_me\.json$/);
    expect(await readdir(root)).not.toContain('escape');
  });
});

describe('createTransport', () => {
  it('uses SendGrid when an API key is configured, the outbox otherwise', () => {
    expect(createTransport({ apiKey: 'SG.x', outboxDir: '/tmp/x' }).name).toBe('sendgrid');
    expect(createTransport({ apiKey: '', outboxDir: '/tmp/x' }).name).toBe('outbox');
    expect(createTransport({ outboxDir: '/tmp/x' }).name).toBe('outbox');
  });
});
