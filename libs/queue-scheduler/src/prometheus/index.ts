// Entry point `nestjs-queue-scheduler/prometheus`: the only part of the library that uses prom-client,
// and it requires it only when the module starts (importing this file does not).
export { QueueSchedulerPrometheusModule } from './queue-scheduler-prometheus.module';
export { QUEUE_SCHEDULER_PROMETHEUS_OPTIONS } from './queue-scheduler-prometheus.module-definition';
export { OTHER_TYPE_LABEL, DEFAULT_PROMETHEUS_PREFIX, DEFAULT_METRICS_PATH } from './prometheus.options';
export type { QueueSchedulerPrometheusOptions, QueueSchedulerPrometheusExtras } from './prometheus.options';
