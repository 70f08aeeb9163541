import { Module } from '@nestjs/common';
import { QueueSchedulerPrometheusModule } from 'nestjs-queue-scheduler/prometheus';
import { Registry } from 'prom-client';

/**
 * GET /metrics (outside the /api prefix, where Prometheus looks by default):
 * the library's Prometheus module. A registry per app, made in the factory,
 * rather than prom-client's global one, so demo apps booted side by side in
 * one test process each serve their own.
 */
@Module({ imports: [QueueSchedulerPrometheusModule.forRootAsync({ useFactory: () => ({ registry: new Registry() }) })] })
export class MetricsModule {}
