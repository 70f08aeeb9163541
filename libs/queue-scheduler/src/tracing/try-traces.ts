import type { Task } from '../interfaces/task.interface';
import type { OtelSpan } from './open-telemetry';
import type { QueueTracing, TryOutcome } from './queue-tracing';

/** A try as the runner starts it (TaskRun): its task, and the call of its handler. */
interface Try {
  readonly task: Task;
  /** Calls the handler; true when the try already ended. */
  start(): boolean;
}

/**
 * The spans of the tries one worker pool runs: each handler is called inside
 * its try's span, which ends when the runner has decided the outcome. Kept
 * here, not on the try: a runner without tracing makes no room for a span.
 */
export class TryTraces {
  private readonly spans = new Map<Try, OtelSpan>();

  constructor(private readonly tracing: QueueTracing) {}

  /** Starts `run` inside a new span; what `run.start()` returns. */
  start(run: Try): boolean {
    const span = this.tracing.startTry(run.task);
    this.spans.set(run, span);
    return this.tracing.inSpan(span, () => run.start());
  }

  ended(run: Try, outcome: TryOutcome, error?: Error): void {
    const span = this.spans.get(run);
    if (span === undefined) return;
    this.spans.delete(run);
    this.tracing.endTry(span, outcome, error);
  }

  /** A task dead before any handler ran (none registered, too many lost tries): its try's span ends at once. */
  dead(task: Task, error: Error): void {
    this.tracing.endTry(this.tracing.startTry(task), 'dead', error);
  }
}
