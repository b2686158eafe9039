// Job names, shared by the hooks that schedule jobs and the worker that runs them.
export const JOB = {
  newReservationAdminEmail: 'send-new-reservation-admin-notification',
  reservationStatusEmail: 'send-reservation-status-email',
  completeReservation: 'complete-reservation',
  checkOverdueReservations: 'check-overdue-reservations',
  dispatchPendingEffects: 'dispatch-pending-effects',
} as const;
export type JobName = (typeof JOB)[keyof typeof JOB];
