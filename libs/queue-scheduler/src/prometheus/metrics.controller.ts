import { Controller, Get, Res, type Type } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { QueueSchedulerPrometheusCollector } from './queue-scheduler-prometheus.collector';

/**
 * The scrape endpoint at `path`, a class per module definition since a
 * controller's route is fixed when its class is declared.
 */
export function metricsController(path: string): Type {
  @Controller(path)
  class QueueSchedulerMetricsController {
    constructor(
      private readonly collector: QueueSchedulerPrometheusCollector,
      private readonly adapterHost: HttpAdapterHost,
    ) {}

    /** The registry's whole text exposition: the app's own metrics in it are served too. */
    @Get()
    async scrape(@Res({ passthrough: true }) res: unknown): Promise<string> {
      const { registry } = this.collector;
      const text = await registry.metrics();
      // the registry's own type (Prometheus text or OpenMetrics), set through the adapter so Express and Fastify both work
      this.adapterHost.httpAdapter.setHeader(res, 'Content-Type', registry.contentType);
      return text;
    }
  }
  return QueueSchedulerMetricsController;
}
