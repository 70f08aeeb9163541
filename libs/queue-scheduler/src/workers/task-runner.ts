import { NoTaskHandlerError } from '../errors/errors';
import type { RegisteredHandler } from '../handlers/task-handler.registry';
import type { MaybePromise, Task } from '../interfaces/task.interface';
import { LibraryLogger, taskLabel } from '../queue-scheduler.logger';
import type { TaskQueue } from '../queue/task-queue';
import { backoffDelay } from './backoff';
import { performance } from 'node:perf_hooks';
import { TaskRun, type TryOwner } from './task-run';

/** Why a running task's signal was aborted by shutdown, as opposed to its own timeout. */
export class ShutdownAbort extends Error {
  constructor() {
    super('aborted: the application is shutting down');
    this.name = 'ShutdownAbort';
  }
}

/**
 * Called when a task's handler is over and its outcome handed to the queue.
 * `recording` is set when the queue writes it asynchronously: it resolves
 * once written (or once the failure to write is logged), never rejects.
 */
export type TaskDone = (task: Task, handler: RegisteredHandler | undefined, recording?: Promise<void>) => void;

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
   */
  private clock = 0.5;

  constructor(
    private readonly queue: TaskQueue,
    private readonly logger: LibraryLogger,
    private readonly done: TaskDone,
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
      return this.record(task, undefined, () => this.queue.fail(task, error, null, 0));
    }
    const maxAttempts = task.maxRetries !== undefined && task.maxRetries !== null ? task.maxRetries + 1 : handler.retries.attempts;
    if (task.attempts > maxAttempts) {
      // The last allowed try was lost with its worker (lease expired); it counted, so the task is dead.
      const error = new Error(`attempt ${task.attempts} exceeds the ${maxAttempts} allowed: an earlier try was lost when its worker stopped`);
      this.logger.error(`${taskLabel(task)} is dead: ${error.message}`);
      return this.record(task, handler, () => this.queue.fail(task, error, null, 0));
    }
    const run = new TaskRun(task, maxAttempts, handler, this, this.clock);
    if (run.start()) return;
    this.inFlight.add(run);
    // its synchronous part took time: the next try must not start at the old reading
    this.clock = performance.now();
  }

  ended(run: TaskRun, ok: boolean, value: unknown): void {
    this.clock = run.endedAt;
    if (this.inFlight.size > 0) this.inFlight.delete(run);
    const { task } = run;
    let recorded: MaybePromise<void>;
    try {
      recorded = ok ? this.queue.complete(task, value, run.durationMs) : this.failed(run, value, run.durationMs);
    } catch (err) {
      return this.notRecorded(task, run.handler, err);
    }
    this.settle(task, run.handler, recorded);
  }

  private failed(run: TaskRun, raw: unknown, durationMs: number): MaybePromise<void> {
    const { task, maxAttempts } = run;
    const error = raw instanceof Error ? raw : new Error(String(raw));
    if (run.reason instanceof ShutdownAbort && error === run.reason) {
      this.logger.warn(`${taskLabel(task)} was interrupted by shutdown after ${Math.round(durationMs)} ms; it is released without using an attempt`);
      return this.queue.release(task);
    }
    const retryAt = task.attempts < maxAttempts ? new Date(this.queue.now() + backoffDelay(run.handler.retries, task.attempts)) : null;
    const next = retryAt ? `retry ${task.attempts + 1}/${maxAttempts} at ${retryAt.toISOString()}` : `dead after ${task.attempts} attempt(s)`;
    const line = `${taskLabel(task)} failed on attempt ${task.attempts}/${maxAttempts}: ${error.message}; ${next}`;
    // a try that will be retried is a warning; the error level is kept for tasks that end dead
    if (retryAt) this.logger.warn(line);
    else this.logger.error(line, error);
    return this.queue.fail(task, error, retryAt, durationMs);
  }

  private record(task: Task, handler: RegisteredHandler | undefined, write: () => MaybePromise<void>): void {
    let recorded: MaybePromise<void>;
    try {
      recorded = write();
    } catch (err) {
      return this.notRecorded(task, handler, err);
    }
    this.settle(task, handler, recorded);
  }

  /** Calls `done`, with the queue's write still under way when it is asynchronous. */
  private settle(task: Task, handler: RegisteredHandler | undefined, recorded: MaybePromise<void>): void {
    if (!(recorded instanceof Promise)) return this.done(task, handler);
    this.done(task, handler, recorded.then(undefined, (err: unknown) => this.logNotRecorded(task, err)));
  }

  private notRecorded(task: Task, handler: RegisteredHandler | undefined, err: unknown): void {
    this.logNotRecorded(task, err);
    this.done(task, handler);
  }

  private logNotRecorded(task: Task, err: unknown): void {
    // The queue itself failed (e.g. the database is down); the lease or retry logic recovers the task.
    this.logger.error(`${taskLabel(task)}: could not record the outcome: ${(err as Error).message}`, err);
  }
}
