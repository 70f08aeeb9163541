import type * as PromClient from 'prom-client';
import { MissingPackageError } from '../errors/errors';

export type PromClientModule = typeof PromClient;

/**
 * Loads the optional peer `prom-client`, at start-up of the module that needs
 * it: importing `nestjs-queue-scheduler` (or even this entry point) never does,
 * so an app without Prometheus does not install it. A missing package stops
 * start-up naming it.
 */
export function loadPromClient(): PromClientModule {
  try {
    // a plain require, resolved from the app, keeps the package optional
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('prom-client') as PromClientModule;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // a package prom-client itself fails to find is a broken install, not a missing prom-client: rethrown as it is
    if (code !== 'MODULE_NOT_FOUND' || !String((err as Error).message).includes("'prom-client'")) throw err;
    throw new MissingPackageError('prom-client', 'QueueSchedulerPrometheusModule (nestjs-queue-scheduler/prometheus)');
  }
}
