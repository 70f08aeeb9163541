import { MissingPackageError } from '../errors/errors';
import { requireOptional } from '../optional-package';

/**
 * The part of `@opentelemetry/api` the library calls, typed here rather than
 * imported: the package is an optional peer, and an import of its types would
 * put it into the declarations the library ships, where an app without it
 * could not compile them.
 */
export type OtelContext = object;
export type OtelAttributes = Record<string, string | number | boolean>;

export interface OtelSpanContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
  isRemote?: boolean;
  traceState?: { serialize(): string };
}

export interface OtelSpan {
  spanContext(): OtelSpanContext;
  setAttribute(key: string, value: string | number | boolean): unknown;
  recordException(exception: Error): void;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}

export interface OtelSpanOptions {
  kind?: number;
  attributes?: OtelAttributes;
  links?: Array<{ context: OtelSpanContext }>;
}

export interface OtelTracer {
  startSpan(name: string, options?: OtelSpanOptions, context?: OtelContext): OtelSpan;
}

export interface OtelApi {
  trace: {
    getTracer(name: string, version?: string): OtelTracer;
    getSpan(context: OtelContext): OtelSpan | undefined;
    setSpan(context: OtelContext, span: OtelSpan): OtelContext;
  };
  context: {
    active(): OtelContext;
    with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(context: OtelContext, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F>;
  };
  ROOT_CONTEXT: OtelContext;
  SpanKind: { INTERNAL: number; PRODUCER: number; CONSUMER: number };
  SpanStatusCode: { ERROR: number };
  createTraceState(raw?: string): { serialize(): string };
}

export const OTEL_PACKAGE = '@opentelemetry/api';

/** undefined: not tried yet; null: not installed. */
let loaded: OtelApi | null | undefined;

/**
 * `@opentelemetry/api`, or null when it is not installed. The app's copy is
 * required once and kept: the API keeps its state (the registered tracer
 * provider) on the global object, so any copy of it reaches the app's SDK.
 * `load` stands in for `require` in tests; a load through it is not kept.
 */
export function loadOpenTelemetry(load?: (name: string) => unknown): OtelApi | null {
  if (!load && loaded !== undefined) return loaded;
  const api = requireOptional<OtelApi>(OTEL_PACKAGE, load);
  if (!load) loaded = api;
  return api;
}

/** `@opentelemetry/api` for `tracing: true`; a missing package stops start-up naming it. */
export function requireOpenTelemetry(load?: (name: string) => unknown): OtelApi {
  const api = loadOpenTelemetry(load);
  if (api) return api;
  throw new MissingPackageError(OTEL_PACKAGE, 'tracing: true');
}
