/** Injection token of the dashboard's options after defaults and validation. */
export const RESOLVED_DASHBOARD_OPTIONS = Symbol('QUEUE_SCHEDULER_RESOLVED_DASHBOARD_OPTIONS');
