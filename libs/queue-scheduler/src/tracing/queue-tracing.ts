import type { ResolvedOptions } from '../interfaces/options.interface';
import type { Task } from '../interfaces/task.interface';
import { type OtelApi, type OtelAttributes, type OtelSpan, type OtelTracer, requireOpenTelemetry } from './open-telemetry';
import { formatTraceContext, parseTraceContext } from './trace-context';

/** The instrumentation scope of every span the library makes. */
export const TRACER_NAME = 'nestjs-queue-scheduler';
const SYSTEM = 'nestjs-queue-scheduler';

/**
 * How one try of a task ended, as its span's `queue.task.outcome`:
 * `failed` is a failed try whose retry is queued, `dead` one that ran out of
 * attempts (or had no handler), `released` a try given back without using
 * an attempt (shutdown, RateLimitedError).
 */
export type TryOutcome = 'succeeded' | 'failed' | 'dead' | 'cancelled' | 'released';

/** What a push knows of its task when it is traced: after validation, before it is stored. */
export interface PushedTask {
  readonly taskId: string;
  readonly type: string;
  readonly schedulerTaskId?: string;
}

/**
 * The library's spans, over the app's `@opentelemetry/api` (and through it
 * the app's SDK): a `queue.push` PRODUCER span at each push made while a span
 * is active, whose context is stored with the task; a `queue.task` CONSUMER
 * span per try, linked to that context; a `queue.scheduler.claim` span per
 * claim of due schedules. Made only with `tracing: true`: otherwise no part
 * of the library holds one, and the hot paths test that field and go on.
 */
export class QueueTracing {
  private readonly tracer: OtelTracer;

  constructor(
    private readonly api: OtelApi,
    /** `queue.backend`, an attribute of every span. */
    private readonly backend: string,
  ) {
    this.tracer = api.trace.getTracer(TRACER_NAME);
  }

  /**
   * The trace context to store with a task pushed now: a short `queue.push`
   * span, child of the active span, whose context the task's tries link to.
   * undefined (nothing stored) when no span is active: a push outside any
   * trace starts none.
   */
  pushed(task: PushedTask): string | undefined {
    const active = this.api.context.active();
    if (this.api.trace.getSpan(active) === undefined) return undefined;
    const span = this.tracer.startSpan('queue.push', { kind: this.api.SpanKind.PRODUCER, attributes: this.taskAttributes(task, 'send') }, active);
    span.end();
    const { traceId, spanId, traceFlags, traceState } = span.spanContext();
    return formatTraceContext(traceId, spanId, traceFlags, traceState?.serialize());
  }

  /**
   * Starts the span of one try of `task`: a root span (a task may run long
   * after its push, and again on a retry), linked to the push's span when the
   * task carries a valid trace context.
   */
  startTry(task: Task): OtelSpan {
    const attributes = this.taskAttributes(task, 'process');
    attributes['queue.task.attempt'] = task.attempts;
    const parsed = parseTraceContext(task.traceContext);
    const links = parsed && [
      {
        context: {
          traceId: parsed.traceId,
          spanId: parsed.spanId,
          traceFlags: parsed.traceFlags,
          isRemote: true,
          traceState: parsed.traceState === undefined ? undefined : this.api.createTraceState(parsed.traceState),
        },
      },
    ];
    return this.tracer.startSpan('queue.task', { kind: this.api.SpanKind.CONSUMER, attributes, links }, this.api.ROOT_CONTEXT);
  }

  /** Calls `fn` with `span` active: what the handler does (its queries, requests, pushes) becomes the span's children. */
  inSpan<T>(span: OtelSpan, fn: () => T): T {
    return this.api.context.with(this.api.trace.setSpan(this.api.ROOT_CONTEXT, span), fn);
  }

  /** Ends a try's span with its outcome; a failed or dead try records its error and sets the span's status to ERROR. */
  endTry(span: OtelSpan, outcome: TryOutcome, error?: Error): void {
    span.setAttribute('queue.task.outcome', outcome);
    if (error !== undefined && (outcome === 'failed' || outcome === 'dead')) {
      span.recordException(error);
      span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: error.message });
    }
    span.end();
  }

  /**
   * Runs one claim of due schedules in a `queue.scheduler.claim` span, active
   * while the occurrences are pushed, so each task's tries link to the claim
   * that queued it.
   */
  async claim<T extends { read: number; won: number; pushed: number }>(fn: () => Promise<T>): Promise<T> {
    const span = this.tracer.startSpan('queue.scheduler.claim', { kind: this.api.SpanKind.INTERNAL, attributes: { 'queue.backend': this.backend } }, this.api.ROOT_CONTEXT);
    try {
      const result = await this.inSpan(span, fn);
      span.setAttribute('queue.scheduler.due', result.read);
      span.setAttribute('queue.scheduler.claimed', result.won);
      span.setAttribute('queue.scheduler.occurrences', result.pushed);
      return result;
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  }

  /** Filled in place, never spread: spreading an object of dotted keys into another took V8 microseconds per try. */
  private taskAttributes(task: PushedTask, operation: 'send' | 'process'): OtelAttributes {
    const attributes: OtelAttributes = {
      'messaging.system': SYSTEM,
      'messaging.operation.type': operation,
      'queue.backend': this.backend,
      'queue.task.type': task.type,
      'queue.task.id': task.taskId,
    };
    if (task.schedulerTaskId !== undefined) attributes['queue.schedule.id'] = task.schedulerTaskId;
    return attributes;
  }
}

/** The tracing of an app with these options: undefined unless `tracing: true` (whose package resolveOptions has checked). */
export function tracingFor(options: Pick<ResolvedOptions, 'tracing' | 'queue'>): QueueTracing | undefined {
  return options.tracing ? new QueueTracing(requireOpenTelemetry(), options.queue.backend) : undefined;
}
