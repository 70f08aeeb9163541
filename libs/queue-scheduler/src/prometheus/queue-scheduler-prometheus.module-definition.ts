import { ConfigurableModuleBuilder, type DynamicModule } from '@nestjs/common';
import { metricsController } from './metrics.controller';
import { DEFAULT_METRICS_PATH, type QueueSchedulerPrometheusExtras, type QueueSchedulerPrometheusOptions, validatePath } from './prometheus.options';

/** Adds the scrape controller at `path`, or none with `path: false`. */
function withController(definition: DynamicModule, extras: QueueSchedulerPrometheusExtras): DynamicModule {
  validatePath(extras.path);
  if (extras.path === false) return definition;
  return { ...definition, controllers: [...(definition.controllers ?? []), metricsController(extras.path)] };
}

export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: QUEUE_SCHEDULER_PROMETHEUS_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<QueueSchedulerPrometheusOptions>({ moduleName: 'QueueSchedulerPrometheus' })
  .setClassMethodName('forRoot')
  .setExtras<QueueSchedulerPrometheusExtras>({ path: DEFAULT_METRICS_PATH }, withController)
  .build();
