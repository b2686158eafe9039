// The status pipeline with its collaborators passed in (src/status/service.ts): what each change hands over, to
// whom, and that a hand-over that fails leaves the change pending instead of lost. The scheduler and publisher here
// are recording stand-ins for Agenda and the live channel (the end-to-end tests use the real ones); the database is
// the run's real server.
import { Types } from 'mongoose';
import pino from 'pino';
import { parseConfig } from '../src/config.js';
import { connectDatabase, disconnectDatabase, type Database } from '../src/db/connect.js';
import { JOB } from '../src/jobs/names.js';
import { Reservation } from '../src/models/reservation.js';
import { StatusClaim } from '../src/models/status-claim.js';
import { ReservationStatus } from '../src/models/status.js';
import { newStatusEvent } from '../src/models/status-event.js';
import { effectsOf, type LiveUpdate, type ScheduledJob, type UnscheduledJobs } from '../src/status/effects.js';
import { createStatusService, type Clock, type Publisher, type Scheduler } from '../src/status/service.js';
import { baseEnv, freshDatabaseUri } from './support/stack.js';

const { PENDING, CONFIRMED, CANCELLED, COMPLETED, NO_SHOW } = ReservationStatus;
const GRACE = 35;
const config = parseConfig(baseEnv('mongodb://unused', { COMPLETION_GRACE_MINUTES: String(GRACE) }));
let db: Database;

beforeAll(async () => {
  db = await connectDatabase(freshDatabaseUri('pipeline'));
});
afterAll(() => disconnectDatabase());

function recorder() {
  const jobs: ScheduledJob[] = [];
  const live: LiveUpdate[] = [];
  const unscheduled: UnscheduledJobs[] = [];
  const scheduler: Scheduler = { schedule: async (scheduled) => void jobs.push(...scheduled), unschedule: async (req) => void unscheduled.push(req) };
  const publisher: Publisher = { publish: async (update) => void live.push(update) };
  return { jobs, unscheduled, live, scheduler, publisher };
}

const fixedClock = (at: Date): Clock => ({ now: () => at });

describe('effectsOf: what a change calls for, and nothing else', () => {
  const reservationId = new Types.ObjectId().toHexString();
  const customerId = new Types.ObjectId().toHexString();
  const startTime = new Date('2031-01-01T19:00:00Z');
  const change = (from: ReservationStatus | null, to: ReservationStatus) => ({
    reservationId,
    customerId,
    startTime,
    event: newStatusEvent(from, to, 'admin:x'),
  });

  test.each([
    [null, PENDING, [[JOB.newReservationAdminNotification, 'new-reservation-admin'], [JOB.fanOutWebhook, undefined]]],
    // The default REMINDER_OFFSETS (24 hours, 2 hours), both ahead of a start in 2031.
    [PENDING, CONFIRMED, [[JOB.reservationStatusEmail, 'reservation-confirmed'], [JOB.completeReservation, undefined], [JOB.sendReservationReminder, undefined], [JOB.sendReservationReminder, undefined], [JOB.fanOutWebhook, undefined]]],
    [PENDING, CANCELLED, [[JOB.reservationStatusEmail, 'reservation-cancelled'], [JOB.fanOutWebhook, undefined]]],
    [CONFIRMED, CANCELLED, [[JOB.reservationStatusEmail, 'reservation-cancelled'], [JOB.fanOutWebhook, undefined]]],
    [CONFIRMED, COMPLETED, [[JOB.fanOutWebhook, undefined]]],
  ] as const)('%s → %s', (from, to, expected) => {
    const c = change(from, to);
    const { jobs, live } = effectsOf(c, config);
    expect(jobs.map((j) => [j.name, (j.data as { kind?: string }).kind])).toEqual(expected);
    for (const job of jobs) expect(job.data).toMatchObject({ reservationId, eventId: c.event._id.toString() });
    expect(live).toEqual({ reservationId, customerId, event: c.event });
  });

  test("a confirmation's completion runs at start + grace, once per confirmation", () => {
    const c = change(PENDING, CONFIRMED);
    const completion = effectsOf(c, config).jobs.find((j) => j.name === JOB.completeReservation)!;
    expect(completion.runAt).toEqual(new Date(startTime.getTime() + GRACE * 60_000));
    expect(completion.uniqueKey).toBe(`complete:${c.event._id.toString()}`);
  });
  test('a confirmation schedules a reminder per REMINDER_OFFSETS, unique per reservation and offset; past ones are skipped', () => {
    const rules = parseConfig(baseEnv('mongodb://unused', { REMINDER_OFFSETS: '24 hours, 2 hours' }));
    const confirmedAt = (hoursBefore: number) => ({
      reservationId,
      customerId,
      startTime,
      event: newStatusEvent(PENDING, CONFIRMED, 'admin:x', null, new Date(startTime.getTime() - hoursBefore * 3_600_000)),
    });
    const reminders = (hoursBefore: number) =>
      effectsOf(confirmedAt(hoursBefore), rules).jobs.filter((j) => j.name === JOB.sendReservationReminder);
    expect(reminders(48).map((j) => [j.runAt, j.uniqueKey, (j.data as { offset: string }).offset])).toEqual([
      [new Date(startTime.getTime() - 24 * 3_600_000), `reminder:${reservationId}:${24 * 3_600_000}`, '24 hours'],
      [new Date(startTime.getTime() - 2 * 3_600_000), `reminder:${reservationId}:${2 * 3_600_000}`, '2 hours'],
    ]);
    // Confirmed 3 hours before: only the 2-hour one; 1 hour before: none.
    expect(reminders(3).map((j) => (j.data as { offset: string }).offset)).toEqual(['2 hours']);
    expect(reminders(1)).toEqual([]);
    // Empty turns them off.
    const off = parseConfig(baseEnv('mongodb://unused', { REMINDER_OFFSETS: '' }));
    expect(effectsOf(confirmedAt(48), off).jobs.filter((j) => j.name === JOB.sendReservationReminder)).toEqual([]);
  });

  test.each([
    [CONFIRMED, CANCELLED, true],
    [CONFIRMED, NO_SHOW, true],
    [CONFIRMED, COMPLETED, false],
    [PENDING, CANCELLED, false],
    [PENDING, CONFIRMED, false],
  ] as const)('%s → %s removes the pending completion and reminders: %s', (from, to, removes) => {
    const { unschedule } = effectsOf(change(from, to), config);
    expect(unschedule).toEqual(removes ? [{ reservationId, names: [JOB.completeReservation, JOB.sendReservationReminder] }] : []);
  });

  test('a change no enabled endpoint subscribes to schedules no webhook fan-out', () => {
    const c = change(CONFIRMED, COMPLETED);
    expect(effectsOf(c, { ...config, webhookEventTypes: new Set(['reservation.created']) }).jobs).toEqual([]);
    expect(effectsOf(c, { ...config, webhookEventTypes: new Set(['reservation.completed']) }).jobs.map((j) => j.name)).toEqual([JOB.fanOutWebhook]);
  });

  test("every change's webhooks are fanned out once per change", () => {
    const c = change(CONFIRMED, COMPLETED);
    const [fanOut] = effectsOf(c, config).jobs;
    expect(fanOut).toEqual({ name: JOB.fanOutWebhook, data: { reservationId, eventId: c.event._id.toString() }, uniqueKey: `webhooks:${c.event._id.toString()}` });
  });
});

describe('the service hands over exactly what effectsOf says, through the collaborators it was given', () => {
  test('create then confirm: the jobs to the scheduler, the live events to the publisher, claims marked dispatched', async () => {
    const r = recorder();
    const at = new Date('2030-06-01T12:00:00Z');
    const status = createStatusService({ ...r, config, clock: fixedClock(at), database: db.capabilities, log: pino({ level: 'silent' }) });
    const customer = new Types.ObjectId();
    const created = await status.createReservation({ customer, startTime: new Date('2031-01-01T19:00:00Z'), partySize: 2, actor: `customer:${customer}` });
    const confirmed = await status.transition({ id: created._id, to: CONFIRMED, actor: 'admin:a' });

    expect(confirmed.history.map((e) => [e.from ?? null, e.to, e.at])).toEqual([
      [null, PENDING, at],
      [PENDING, CONFIRMED, at],
    ]);
    expect(r.jobs.map((j) => j.name)).toEqual([
      JOB.newReservationAdminNotification,
      JOB.fanOutWebhook,
      JOB.reservationStatusEmail,
      JOB.completeReservation,
      JOB.sendReservationReminder,
      JOB.sendReservationReminder,
      JOB.fanOutWebhook,
    ]);
    expect(r.unscheduled).toEqual([]);
    expect(r.live.map((u) => u.event.to)).toEqual([PENDING, CONFIRMED]);
    expect(await StatusClaim.countDocuments({ reservation: created._id, dispatched: false })).toBe(0);
  });

  test('a publisher that fails leaves the change committed and pending, and dispatch-pending-effects finishes it', async () => {
    const r = recorder();
    let failing = true;
    const publisher: Publisher = {
      publish: async (update) => {
        if (failing) throw new Error('live channel down');
        r.live.push(update);
      },
    };
    const status = createStatusService({ scheduler: r.scheduler, publisher, config, clock: { now: () => new Date() }, database: db.capabilities, log: pino({ level: 'silent' }) });
    const customer = new Types.ObjectId();
    const created = await status.createReservation({ customer, startTime: new Date('2031-01-01T19:00:00Z'), partySize: 2, actor: `customer:${customer}` });

    expect((await Reservation.findById(created._id).lean())!.status).toBe(PENDING);
    expect(r.live).toEqual([]);
    expect(await StatusClaim.countDocuments({ reservation: created._id, dispatched: false })).toBe(1);

    failing = false;
    expect(await status.dispatchPendingEffects({ olderThanMs: 0, limit: 10 })).toBe(1);
    expect(r.live.map((u) => [u.reservationId, u.event.to])).toEqual([[created._id.toHexString(), PENDING]]);
    expect(await StatusClaim.countDocuments({ reservation: created._id, dispatched: false })).toBe(0);
    // Handed over once more by the retry, the job is the same key (the scheduler makes it unique).
    expect(new Set(r.jobs.map((j) => j.uniqueKey)).size).toBe(2); // its email and its webhook fan-out
  });
});
