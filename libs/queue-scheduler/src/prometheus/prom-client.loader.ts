import type * as PromClient from 'prom-client';
import { MissingPackageError } from '../errors/errors';
import { requireOptional } from '../optional-package';

export type PromClientModule = typeof PromClient;

/**
 * Loads the optional peer `prom-client`, at start-up of the module that needs
 * it: importing `nestjs-queue-scheduler` (or even this entry point) never does,
 * so an app without Prometheus does not install it. A missing package stops
 * start-up naming it.
 */
export function loadPromClient(): PromClientModule {
  const promClient = requireOptional<PromClientModule>('prom-client');
  if (promClient) return promClient;
  throw new MissingPackageError('prom-client', 'QueueSchedulerPrometheusModule (nestjs-queue-scheduler/prometheus)');
}
