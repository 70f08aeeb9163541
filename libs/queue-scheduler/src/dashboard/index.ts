// Entry point `nestjs-queue-scheduler/dashboard`: a web page for the queue and the schedules, served from files in the package.
export { QueueSchedulerDashboardModule } from './dashboard.module';
export { DASHBOARD_OPTIONS } from './dashboard.module-definition';
export type { QueueSchedulerDashboardOptions, QueueSchedulerDashboardExtras } from './dashboard.options';
export { describeCron } from './cron-words';
