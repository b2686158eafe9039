// Tells ADMIN_EMAIL that a webhook endpoint was disabled for failing WEBHOOK_DISABLE_AFTER in a row. Scheduled once
// per run of failures (its key names when the run began) and sent once per key (mail/deliver.ts); an email job,
// so only workers running the `email` group send it. A short plain message: no MJML template for an operator note.
import { Types } from 'mongoose';
import { intervalMs } from '../config.js';
import { deliverOnce } from '../mail/deliver.js';
import { WebhookEndpointModel } from '../webhooks/models.js';
import type { WebhookDisabledEmailData } from '../webhooks/delivery.js';
import type { JobContext } from './context.js';
import { emailJobOptions } from './email.js';
import { JOB } from './names.js';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

export function defineWebhookDisabledEmail(ctx: JobContext): void {
  const c = ctx.config;
  ctx.agenda.define<WebhookDisabledEmailData>(
    JOB.webhookDisabledEmail,
    async (job) => {
      const { endpointId, reason } = job.attrs.data;
      const endpoint = await WebhookEndpointModel.findById(new Types.ObjectId(endpointId)).lean();
      if (!endpoint || endpoint.enabled) return; // deleted, or re-enabled since
      const text = [
        `The webhook endpoint ${endpoint.url} (${endpointId}) was disabled: ${reason}.`,
        '',
        'Its deliveries are kept in the delivery log (webhookDeliveries). Once the receiver works again, enable it',
        'with updateWebhookEndpoint(enabled: true) and redeliver what it missed with redeliverWebhook.',
      ].join('\n');
      const html = `<p>${text.split('\n').filter(Boolean).map(escapeHtml).join('</p><p>')}</p>`;
      const delivery = await deliverOnce(
        ctx.transport,
        { to: c.ADMIN_EMAIL, from: c.MAIL_FROM, subject: `Webhook endpoint disabled: ${endpoint.url}`, text, html, key: job.attrs._id!.toString() },
        { abandonedAfterMs: intervalMs(c.JOB_LOCK_LIFETIME), crash: ctx.crash },
      );
      if (delivery.outcome === 'in-progress') {
        job.schedule(delivery.retryAt);
        return;
      }
      ctx.log.info({ endpointId }, 'admin told of a disabled webhook endpoint');
    },
    emailJobOptions(c),
  );
}
