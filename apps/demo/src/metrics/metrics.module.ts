import { Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller';
import { PrometheusExporter } from './prometheus.exporter';

@Module({ controllers: [MetricsController], providers: [PrometheusExporter] })
export class MetricsModule {}
