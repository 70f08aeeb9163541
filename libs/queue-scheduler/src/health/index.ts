// Entry point `nestjs-queue-scheduler/health`: the only part of the library that imports @nestjs/terminus.
export { QueueSchedulerHealthIndicator } from './queue-scheduler.health-indicator';
export { QueueSchedulerHealthService } from './queue-scheduler-health.service';
export type { HealthCheckOutcome, QueueSchedulerHealthOptions, QueueSchedulerHealthReport } from './queue-scheduler-health.service';
