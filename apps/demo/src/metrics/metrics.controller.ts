import { Controller, Get, Header } from '@nestjs/common';
import { Registry } from 'prom-client';
import { PrometheusExporter } from './prometheus.exporter';

/** GET /metrics (outside the /api prefix, where Prometheus looks by default). */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly exporter: PrometheusExporter) {}

  @Get()
  @Header('Content-Type', Registry.PROMETHEUS_CONTENT_TYPE)
  scrape(): Promise<string> {
    return this.exporter.scrape();
  }
}
