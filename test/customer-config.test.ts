// The settings of the customer's journey, as config.ts reads them: defaults, what turns reminders off, and the one
// line a bad value stops the process with (test/production.test.ts shows the processes exiting on such a line).
import { parseConfig } from '../src/config.js';

const parse = (env: Record<string, string>) => parseConfig({ NODE_ENV: 'test', ...env });

test('defaults: reminders 24 hours and 2 hours before, a 90-minute invite, cancellation up to the start, links to localhost', () => {
  const c = parse({ PORT: '4123' });
  expect(c.REMINDER_OFFSETS).toEqual([
    { text: '24 hours', ms: 86_400_000 },
    { text: '2 hours', ms: 7_200_000 },
  ]);
  expect(c.CALENDAR_EVENT_DURATION).toBe('90 minutes');
  expect(c.CANCELLATION_CUTOFF).toBe('0 minutes');
  expect(c.PUBLIC_URL).toBe('http://localhost:4123');
  expect(c.BUSINESS_ADDRESS).toBeUndefined();
  expect(c.BUSINESS_CONTACT).toBeUndefined();
});

test('REMINDER_OFFSETS: empty (or none) turns reminders off; duplicates are dropped, earliest reminder first', () => {
  expect(parse({ REMINDER_OFFSETS: '' }).REMINDER_OFFSETS).toEqual([]);
  expect(parse({ REMINDER_OFFSETS: 'none' }).REMINDER_OFFSETS).toEqual([]);
  expect(parse({ REMINDER_OFFSETS: '30 minutes, 1 day, 24 hours' }).REMINDER_OFFSETS).toEqual([
    { text: '24 hours', ms: 86_400_000 },
    { text: '30 minutes', ms: 1_800_000 },
  ]);
});

test('PUBLIC_URL: trailing slashes dropped; required in production', () => {
  expect(parse({ PUBLIC_URL: 'https://book.example.com/' }).PUBLIC_URL).toBe('https://book.example.com');
  expect(() =>
    parseConfig({ NODE_ENV: 'production', MONGODB_URI: 'mongodb://db/x', JWT_SECRET: 'a-secret-of-16-chars', SENDGRID_API_KEY: 'SG.x' }),
  ).toThrow('Invalid configuration: PUBLIC_URL is required in production');
});

test.each([
  ['REMINDER_OFFSETS', '24 hours, soon', 'Invalid configuration: REMINDER_OFFSETS must be a comma list of lengths of time such as "24 hours, 2 hours" (empty: no reminders) (got "24 hours, soon")'],
  ['CALENDAR_EVENT_DURATION', '0 minutes', 'Invalid configuration: CALENDAR_EVENT_DURATION must be a length of time such as "90 minutes" (got "0 minutes")'],
  ['CANCELLATION_CUTOFF', 'a while', 'Invalid configuration: CANCELLATION_CUTOFF must be a length of time such as "2 hours" (got "a while")'],
  ['PUBLIC_URL', 'book.example.com', 'Invalid configuration: PUBLIC_URL must be an http(s) URL such as https://book.example.com (got "book.example.com")'],
])('%s=%s is refused with one line naming it', (name, value, line) => {
  expect(() => parse({ [name]: value })).toThrow(line);
});
