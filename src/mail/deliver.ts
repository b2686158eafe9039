// Delivery at most once per idempotency key (the status event's id), however often the job that sends the email
// runs: retries, a worker killed and its job picked up again, two workers holding the same job.
//
// Every attempt to send is first claimed by inserting `<key>#<attempt>` into `emailDeliveries` ("insert once",
// src/db/writes.ts: the one write both MongoDB and FerretDB 1.24 make atomic; Agenda's job locks are conditional
// updates, so on FerretDB two workers can run the same job at once). Of two runs trying the same attempt exactly
// one inserts it and sends; the other is told the email is in progress, a "come back later", not a failure. The
// attempts stay as the email's record.
//
// Residual window: a worker that dies after SendGrid accepted the email (HTTP 202) but before it recorded the
// attempt as sent leaves a `sending` attempt behind. Once that is older than the job's lock lifetime, the next
// run takes it for abandoned and sends again: one duplicate, at most once per such crash, visible in
// `emailDeliveries` as a `sending` attempt followed by a `sent` one (test/email-duplicate-window.test.ts).
// SendGrid's mail/send has no idempotency key of its own to close it; the key travels in the message (custom
// arg, header) so a duplicate can be traced.
import { Schema, model } from 'mongoose';
import { insertOnce } from '../db/writes.js';
import type { CrashHook } from '../status/crash-points.js';
import type { MailTransport, OutgoingEmail } from './transport.js';

const deliverySchema = new Schema(
  {
    _id: { type: String, required: true },
    key: { type: String, required: true },
    attempt: { type: Number, required: true },
    state: { type: String, enum: ['sending', 'sent', 'failed'], required: true },
    claimedAt: { type: Date, required: true },
    finishedAt: { type: Date },
    error: { type: String },
    transport: { type: String, required: true },
    reservationId: { type: String },
  },
  { _id: false, versionKey: false },
);
deliverySchema.index({ key: 1, attempt: -1 });

export const EmailDelivery = model('EmailDelivery', deliverySchema, 'emailDeliveries');

export interface DeliverOptions {
  /** A `sending` attempt older than this was abandoned (its worker died): the job's lock lifetime. */
  abandonedAfterMs: number;
  reservationId?: string;
  /** Test builds: the `after-email-sent` crash point (status/crash-points.ts). */
  crash: CrashHook;
}

/** What became of one call: sent now, sent before, or being sent by another run (ask again at `retryAt`). */
export type DeliveryOutcome = { outcome: 'sent' } | { outcome: 'already-sent' } | { outcome: 'in-progress'; retryAt: Date };

/** Sends `email` unless an attempt with its key already succeeded or is under way. Throws what the transport throws. */
export async function deliverOnce(transport: MailTransport, email: OutgoingEmail, opts: DeliverOptions): Promise<DeliveryOutcome> {
  const attempts = await EmailDelivery.find({ key: email.key }, { attempt: 1, state: 1, claimedAt: 1 })
    .sort({ attempt: -1 })
    .lean();
  if (attempts.some((a) => a.state === 'sent')) return { outcome: 'already-sent' };
  const latest = attempts[0];
  const abandonedAt = latest ? latest.claimedAt.getTime() + opts.abandonedAfterMs : 0;
  if (latest?.state === 'sending' && Date.now() < abandonedAt) return { outcome: 'in-progress', retryAt: new Date(abandonedAt) };

  const attempt = (latest?.attempt ?? 0) + 1;
  const _id = `${email.key}#${attempt}`;
  const claimedAt = new Date();
  const claimed = await insertOnce(EmailDelivery.collection, {
    _id,
    key: email.key,
    attempt,
    state: 'sending',
    claimedAt,
    transport: transport.name,
    ...(opts.reservationId ? { reservationId: opts.reservationId } : {}),
  });
  if (!claimed) return { outcome: 'in-progress', retryAt: new Date(claimedAt.getTime() + opts.abandonedAfterMs) };

  try {
    await transport.send(email);
  } catch (err) {
    await EmailDelivery.updateOne(
      { _id },
      { $set: { state: 'failed', finishedAt: new Date(), error: err instanceof Error ? err.message : String(err) } },
    );
    throw err;
  }
  opts.crash('after-email-sent');
  // Only this run writes this attempt, so the update needs no atomicity from the database.
  await EmailDelivery.updateOne({ _id }, { $set: { state: 'sent', finishedAt: new Date() } });
  return { outcome: 'sent' };
}
