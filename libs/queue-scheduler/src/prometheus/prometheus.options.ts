import type { Registry, RegistryContentType } from 'prom-client';
import { describeValue, InvalidOptionsError } from '../errors/errors';

/** @publicApi */
export interface QueueSchedulerPrometheusOptions {
  /**
   * The prom-client registry that gets the series (an app's own `new Registry()`).
   * @default prom-client's global `register`
   */
  registry?: Registry<RegistryContentType> | undefined;
  /** Put before every series name; a valid Prometheus name start (`[a-zA-Z_:][a-zA-Z0-9_:]*`) or ''. @default 'queue_scheduler_' */
  prefix?: string | undefined;
}

/** What changes the module graph (a controller or none), so it sits outside the (possibly async) options factory. @publicApi */
export interface QueueSchedulerPrometheusExtras {
  /**
   * Route of the scrape endpoint (GET, the registry's whole text exposition),
   * or `false` for no controller: the app serves the registry itself.
   * An app's global prefix applies to it unless excluded.
   * @default '/metrics'
   */
  path: string | false;
}

export const DEFAULT_PROMETHEUS_PREFIX = 'queue_scheduler_';
export const DEFAULT_METRICS_PATH = '/metrics';

/**
 * The `type` label of every task type without a registered `@TaskHandler`
 * (junk or mistyped pushes, events whose type the backend does not report):
 * one series for all of them, so a client cannot grow the series count.
 * @publicApi
 */
export const OTHER_TYPE_LABEL = '(other)';

const NAME_PREFIX = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;
const REGISTRY_METHODS = ['registerMetric', 'removeSingleMetric', 'getSingleMetric', 'metrics'] as const;

export interface ResolvedPrometheusOptions {
  registry: Registry<RegistryContentType>;
  prefix: string;
}

export function resolvePrometheusOptions(options: QueueSchedulerPrometheusOptions | undefined, defaultRegistry: Registry): ResolvedPrometheusOptions {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new InvalidOptionsError('options', `QueueSchedulerPrometheusModule options must be an object, got ${describeValue(options)}`);
  }
  const { registry = defaultRegistry, prefix = DEFAULT_PROMETHEUS_PREFIX } = options ?? {};
  if (typeof prefix !== 'string' || !NAME_PREFIX.test(prefix)) {
    throw new InvalidOptionsError('prefix', `prefix must be '' or start a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got ${describeValue(prefix)}`);
  }
  // duck-typed, not instanceof: a registry from another copy of prom-client in the app works the same
  const missing = REGISTRY_METHODS.filter((m) => typeof (registry as unknown as Record<string, unknown> | null)?.[m] !== 'function');
  if (missing.length > 0) {
    throw new InvalidOptionsError('registry', `registry must be a prom-client Registry (no ${missing.join(', ')}), got ${describeValue(registry)}`);
  }
  return { registry, prefix };
}

export function validatePath(path: unknown): asserts path is string | false {
  if (path === false) return;
  if (typeof path !== 'string' || path.trim() === '') {
    throw new InvalidOptionsError('path', `path must be a route such as '/metrics', or false for no controller, got ${describeValue(path)}`);
  }
}
