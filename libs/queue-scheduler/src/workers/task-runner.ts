import { NoTaskHandlerError, RateLimitedError, TaskCancelledError, TaskLostError } from '../errors/errors';
import type { RegisteredHandler } from '../handlers/task-handler.registry';
import type { MaybePromise, Task, TaskProgress } from '../interfaces/task.interface';
import type { ChildResult } from '../interfaces/flow.interface';
import { LibraryLogger, taskLabel } from '../queue-scheduler.logger';
import type { QueueConsumer } from '../queue/queue-consumer';
import { backoffDelay } from './backoff';
import { storableError, storableResult } from './storable-outcome';
import { performance } from 'node:perf_hooks';
import { TaskRun, type TryOwner } from './task-run';
import { TaskShutdownError } from '../errors/conflict-errors';
import type { TryTraces } from '../tracing/try-traces';


/**
 * Called when a task's handler is over and its outcome handed to the queue.
 * `recording` is set when the queue writes it asynchronously: it resolves
 * once written (or once the failure to write is logged), never rejects.
 * `returned` is set when the try was ended (timeout, shutdown) while its
 * handler still runs: it resolves once the handler returned, and until then
 * the handler's slot is still taken.
 */
export type TaskDone = (task: Task, handler: RegisteredHandler | undefined, recording?: Promise<void>, returned?: Promise<void>) => void;

/** What the runner enforces on every backend alike. */
export interface RunnerLimits {
  /** queue.maxResultBytes */
  maxResultBytes: number;
  /** queue.maxLostTries */
  maxLostTries: number;
  /** queue.progressIntervalMs */
  progressIntervalMs: number;
}

/**
 * Runs claimed tasks: calls the handler through a TaskRun, then reports
 * success, retry, dead or release to the queue and calls `done` (at once
 * when the handler and the queue were both synchronous: no promise is made
 * on that path). Nothing a handler or the queue does can throw out of `run`.
 */
export class TaskRunner implements TryOwner {
  /** Tries whose handler is still running (not the synchronous ones): shutdown aborts these. */
  readonly inFlight = new Set<TaskRun>();
  /**
   * The last performance.now() reading. A try that starts right after
   * another ended synchronously starts at that end: one clock reading per
   * task instead of two (a reading costs ~70 ns here, a fifth of a no-op
   * task). Time spent recording an outcome counts towards the next try.
   * A try that ends writes its end here (TryOwner).
   */
  clock = 0.5;

  constructor(
    private readonly queue: QueueConsumer,
    private readonly logger: LibraryLogger,
    private readonly done: TaskDone,
    private readonly limits: RunnerLimits,
    /** With `tracing: true`: each try runs in its span. Otherwise undefined, and every check of it is all tracing costs. */
    private readonly traces?: TryTraces,
  ) {}

  /** Reads the clock; called before a batch of `run`s, so the first starts at a fresh reading. */
  readClock(): void {
    this.clock = performance.now();
  }

  /** Runs `task` with its type's handler (undefined: no handler anywhere, the task is dead). */
  run(task: Task, handler: RegisteredHandler | undefined): void {
    if (!handler) {
      const error = new NoTaskHandlerError(task.type);
      this.logger.error(`${taskLabel(task)} is dead: ${error.message}`);
      if (this.traces !== undefined) this.traces.dead(task, error);
      return this.record(task, undefined, () => this.queue.fail(task, error, null, undefined));
    }
    // Tries lost with their worker are counted apart: a crash re-runs the task (at-least-once) without using up the
    // retry policy, up to queue.maxLostTries; `attempts` includes them, so the allowance grows by as many.
    const lost = task.lostTries ?? 0;
    const maxAttempts = (task.maxRetries !== undefined && task.maxRetries !== null ? task.maxRetries + 1 : handler.retries.attempts) + lost;
    if (lost > this.limits.maxLostTries || task.attempts > maxAttempts) {
      const error = new TaskLostError(lost, this.limits.maxLostTries);
      this.logger.error(`${taskLabel(task)} is dead: ${error.message}`);
      if (this.traces !== undefined) this.traces.dead(task, error);
      // no handler ran: no duration, so the handler-duration histogram counts no 0 s run for it
      return this.record(task, handler, () => this.queue.fail(task, error, null, undefined));
    }
    const run = new TaskRun(task, maxAttempts, handler, this, this.clock);
    if (this.traces === undefined ? run.start() : this.traces.start(run)) return;
    this.inFlight.add(run);
    // its synchronous part took time: the next try must not start at the old reading
    this.clock = performance.now();
  }

  /** Asks the try of `taskId` running here (if any) to stop: its signal aborts, and it ends the task cancelled. */
  cancel(taskId: string): boolean {
    for (const run of this.inFlight) {
      if (run.task.taskId !== taskId) continue;
      if (!run.cancel(new TaskCancelledError(taskId))) return false;
      this.logger.log(`${taskLabel(run.task)}: cancel requested while running; its signal is aborted`);
      return true;
    }
    return false;
  }

  ended(run: TaskRun, ok: boolean, value: unknown): void {
    if (this.inFlight.size > 0) this.inFlight.delete(run);
    const { task, returned } = run;
    if (run.cancelledBy) return this.endCancelled(run, ok, value);
    let result: unknown;
    if (ok) {
      try {
        result = storableResult(value, this.limits.maxResultBytes);
      } catch (err) {
        // a result no backend can store fails the try, on every backend alike, rather than the write
        ok = false;
        value = err;
      }
    }
    if (ok && this.traces !== undefined) this.traces.ended(run, 'succeeded');
    // the outcome follows the last progress write: a database would otherwise take the progress after the outcome
    const progress = run.progressWritten();
    if (progress) return this.settle(task, run.handler, progress.then(() => this.outcome(run, ok, ok ? result : value)), returned);
    let recorded: MaybePromise<void>;
    try {
      recorded = this.outcome(run, ok, ok ? result : value);
    } catch (err) {
      return this.notRecorded(task, run.handler, err, returned);
    }
    this.settle(task, run.handler, recorded, returned);
  }

  /** Writes a try's outcome: no closure is made for it, one allocation less per task on the drain's path. */
  private outcome(run: TaskRun, ok: boolean, value: unknown): MaybePromise<void> {
    return ok ? this.queue.complete(run.task, value, run.durationMs) : this.failed(run, value, run.durationMs);
  }

  /** A cancelled try: whatever the handler returned or threw, the task ends cancelled (a result is not stored). */
  private endCancelled(run: TaskRun, ok: boolean, value: unknown): void {
    const { task } = run;
    const dropped = ok && value !== undefined && value !== null ? '; the result it returned is dropped' : '';
    this.logger.warn(`${taskLabel(task)} was cancelled while running (attempt ${task.attempts}); it ended after ${Math.round(run.durationMs)} ms${dropped}`);
    if (this.traces !== undefined) this.traces.ended(run, 'cancelled');
    const record = (): MaybePromise<void> => this.queue.cancelled(task, run.durationMs);
    const progress = run.progressWritten();
    if (progress) return this.settle(task, run.handler, progress.then(record), run.returned);
    this.record(task, run.handler, record, run.returned);
  }

  get progressIntervalMs(): number {
    return this.limits.progressIntervalMs;
  }

  async childResults(run: TaskRun): Promise<Record<string, ChildResult>> {
    return this.queue.childResults(run.task);
  }

  writeProgress(run: TaskRun, value: TaskProgress): MaybePromise<void> {
    const failed = (err: unknown): void => this.logger.warn(`${taskLabel(run.task)}: progress not stored: ${(err as Error).message}`);
    try {
      const written = this.queue.progress(run.task, value);
      return written instanceof Promise ? written.catch(failed) : written;
    } catch (err) {
      return failed(err);
    }
  }

  private failed(run: TaskRun, raw: unknown, durationMs: number): MaybePromise<void> {
    const { task, maxAttempts } = run;
    const error = storableError(raw);
    if (raw instanceof RateLimitedError) {
      const at = new Date(this.queue.now() + raw.retryAfterMs);
      this.logger.warn(`${taskLabel(task)} backed off (RateLimitedError): queued again for ${at.toISOString()} without using an attempt`);
      if (this.traces !== undefined) this.traces.ended(run, 'released');
      return this.queue.release(task, at);
    }
    if (run.reason instanceof TaskShutdownError && error === run.reason) {
      this.logger.warn(`${taskLabel(task)} was interrupted by shutdown after ${Math.round(durationMs)} ms; it is released without using an attempt`);
      if (this.traces !== undefined) this.traces.ended(run, 'released');
      return this.queue.release(task);
    }
    const retryAt = task.attempts < maxAttempts ? new Date(this.queue.now() + backoffDelay(run.handler.retries, task.attempts)) : null;
    const next = retryAt ? `retry ${task.attempts + 1}/${maxAttempts} at ${retryAt.toISOString()}` : `dead after ${task.attempts} attempt(s)`;
    const line = `${taskLabel(task)} failed on attempt ${task.attempts}/${maxAttempts}: ${error.message}; ${next}`;
    // a try that will be retried is a warning; the error level is kept for tasks that end dead
    if (retryAt) this.logger.warn(line);
    else this.logger.error(line, error);
    if (this.traces !== undefined) this.traces.ended(run, retryAt ? 'failed' : 'dead', error);
    return this.queue.fail(task, error, retryAt, durationMs);
  }

  private record(task: Task, handler: RegisteredHandler | undefined, write: () => MaybePromise<void>, returned?: Promise<void>): void {
    let recorded: MaybePromise<void>;
    try {
      recorded = write();
    } catch (err) {
      return this.notRecorded(task, handler, err, returned);
    }
    this.settle(task, handler, recorded, returned);
  }

  /** Calls `done`, with the queue's write still under way when it is asynchronous. */
  private settle(task: Task, handler: RegisteredHandler | undefined, recorded: MaybePromise<void>, returned?: Promise<void>): void {
    if (!(recorded instanceof Promise)) return this.done(task, handler, undefined, returned);
    this.done(task, handler, recorded.then(undefined, (err: unknown) => this.logNotRecorded(task, err)), returned);
  }

  private notRecorded(task: Task, handler: RegisteredHandler | undefined, err: unknown, returned?: Promise<void>): void {
    this.logNotRecorded(task, err);
    this.done(task, handler, undefined, returned);
  }

  private logNotRecorded(task: Task, err: unknown): void {
    // The queue itself failed (e.g. the database is down); the lease or retry logic recovers the task.
    this.logger.error(`${taskLabel(task)}: could not record the outcome: ${(err as Error).message}`, err);
  }
}
