// Job names: what the status pipeline's effects schedule (src/status/effects.ts) and the worker runs (src/jobs/).
export const JOB = Object.freeze({
  newReservationAdminNotification: 'send-new-reservation-admin-notification',
  reservationStatusEmail: 'send-reservation-status-email',
  sendReservationReminder: 'send-reservation-reminder',
  completeReservation: 'complete-reservation',
  checkOverdueReservations: 'check-overdue-reservations',
  dispatchPendingEffects: 'dispatch-pending-effects',
  purgeJobHistory: 'purge-job-history',
  fanOutWebhook: 'fan-out-webhook',
  deliverWebhook: 'deliver-webhook',
  cleanWebhookLog: 'clean-webhook-log',
  webhookDisabledEmail: 'send-webhook-disabled-email',
} as const);
export type JobName = (typeof JOB)[keyof typeof JOB];
