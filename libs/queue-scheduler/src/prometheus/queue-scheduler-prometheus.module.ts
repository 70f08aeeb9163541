import { type DynamicModule, Module } from '@nestjs/common';
import { loadPromClient } from './prom-client.loader';
import { type QueueSchedulerPrometheusOptions, resolvePrometheusOptions } from './prometheus.options';
import { PROMETHEUS_SETUP, type PrometheusSetup, QueueSchedulerPrometheusCollector } from './queue-scheduler-prometheus.collector';
import { ConfigurableModuleClass, type OPTIONS_TYPE, QUEUE_SCHEDULER_PROMETHEUS_OPTIONS } from './queue-scheduler-prometheus.module-definition';

function setUp(options: QueueSchedulerPrometheusOptions): PrometheusSetup {
  const promClient = loadPromClient();
  return { promClient, ...resolvePrometheusOptions(options, promClient.register) };
}

/**
 * The library's metrics as Prometheus series in the app's prom-client
 * registry, read on each scrape, and a `GET /metrics` route (`path`).
 * Needs `QueueSchedulerModule` (global, as by default) and the `prom-client` package.
 *
 * @example
 * QueueSchedulerPrometheusModule.forRoot()                                     // global register, GET /metrics
 * QueueSchedulerPrometheusModule.forRoot({ registry: myRegistry, path: false }) // the app serves its registry
 * @publicApi
 */
@Module({
  providers: [
    // prom-client is required here, at start-up of this module only, never when a file is imported
    { provide: PROMETHEUS_SETUP, useFactory: setUp, inject: [QUEUE_SCHEDULER_PROMETHEUS_OPTIONS] },
    QueueSchedulerPrometheusCollector,
  ],
})
export class QueueSchedulerPrometheusModule extends ConfigurableModuleClass {
  /** The module with `options` (every one has a default, so `forRoot()` is enough). */
  static override forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }
}
