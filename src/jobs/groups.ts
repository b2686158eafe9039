// Task routing (the seed's "route different task types to specialized workers"): the jobs of each group a worker
// can be told to run with WORKER_JOBS or `--jobs`. A worker defines only its groups' jobs, so Agenda hands it no
// other: a webhooks-only worker never sends an email, an email-only one never delivers a webhook.
import { cleanWebhookLogInterval, defineCleanWebhookLog } from './clean-webhook-log.js';
import { defineCheckOverdueReservations } from './check-overdue-reservations.js';
import { defineCompleteReservation } from './complete-reservation.js';
import type { DefineJob } from './context.js';
import { defineDeliverWebhook } from './deliver-webhook.js';
import { defineDispatchPendingEffects } from './dispatch-pending-effects.js';
import { defineFanOutWebhook } from './fan-out-webhook.js';
import type { JobGroupName } from './group-names.js';
import { JOB, type JobName } from './names.js';
import { defineNewReservationAdminNotification } from './send-new-reservation-admin-notification.js';
import { defineReservationStatusEmail } from './send-reservation-status-email.js';
import { defineSendReservationReminder } from './send-reservation-reminder.js';
import { definePurgeJobHistory } from './purge-job-history.js';
import { defineWebhookDisabledEmail } from './send-webhook-disabled-email.js';
import type { Config } from '../config.js';

export { JOB_GROUP_NAMES, type JobGroupName } from './group-names.js';

export interface JobGroup {
  define: readonly DefineJob[];
  /** Recurring jobs: name and interval (from the configuration). */
  recurring: readonly ((c: Config) => { name: JobName; interval: string })[];
}

export const JOB_GROUPS: Readonly<Record<JobGroupName, JobGroup>> = Object.freeze({
  email: {
    define: [defineNewReservationAdminNotification, defineReservationStatusEmail, defineSendReservationReminder, defineWebhookDisabledEmail],
    recurring: [],
  },
  completion: {
    define: [defineCompleteReservation, defineCheckOverdueReservations],
    recurring: [(c) => ({ name: JOB.checkOverdueReservations, interval: c.COMPLETION_SWEEP_INTERVAL })],
  },
  webhooks: { define: [defineFanOutWebhook, defineDeliverWebhook], recurring: [] },
  maintenance: {
    define: [defineDispatchPendingEffects, defineCleanWebhookLog, definePurgeJobHistory],
    recurring: [
      (c) => ({ name: JOB.dispatchPendingEffects, interval: c.PENDING_EFFECTS_INTERVAL }),
      (c) => ({ name: JOB.cleanWebhookLog, interval: cleanWebhookLogInterval(c.WEBHOOK_LOG_RETENTION) }),
      (c) => ({ name: JOB.purgeJobHistory, interval: c.JOB_HISTORY_PURGE_INTERVAL }),
    ],
  },
});
