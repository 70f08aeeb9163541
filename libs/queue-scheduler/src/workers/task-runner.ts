import { NoTaskHandlerError, TaskTimeoutError } from '../errors/errors';
import type { Task, TaskContext } from '../interfaces/task.interface';
import type { RegisteredHandler, TaskHandlerRegistry } from '../handlers/task-handler.registry';
import { LibraryLogger, taskLabel } from '../queue-scheduler.logger';
import type { TaskQueue } from '../queue/task-queue';
import { backoffDelay } from './backoff';
import { TaskAbort } from './task-abort';

/** Why a running task's signal was aborted by shutdown, as opposed to its own timeout. */
export class ShutdownAbort extends Error {
  constructor() {
    super('aborted: the application is shutting down');
    this.name = 'ShutdownAbort';
  }
}

/** One task in flight: its abort switch, for shutdown. */
export interface InFlight {
  readonly task: Task;
  readonly abort: TaskAbort;
}

/**
 * Runs one claimed task to its end: calls the handler with a context,
 * enforces the timeout, and reports success, retry or dead to the queue.
 * Nothing a handler does can throw out of `run`.
 */
export class TaskRunner {
  constructor(
    private readonly queue: TaskQueue,
    private readonly registry: TaskHandlerRegistry,
    private readonly logger: LibraryLogger,
  ) {}

  async run(task: Task, inFlight: Map<string, InFlight>): Promise<void> {
    const handler = this.registry.get(task.type);
    try {
      if (!handler) {
        const error = new NoTaskHandlerError(task.type);
        this.logger.error(`${taskLabel(task)} is dead: ${error.message}`);
        await this.queue.fail(task, error, null, 0);
        return;
      }
      const abort = new TaskAbort();
      inFlight.set(task.taskId, { task, abort });
      try {
        await this.execute(task, handler, abort);
      } finally {
        inFlight.delete(task.taskId);
      }
    } catch (err) {
      // The queue itself failed (e.g. the database is down); the lease or retry logic recovers the task.
      this.logger.error(`${taskLabel(task)}: could not record the outcome: ${(err as Error).message}`, err);
    }
  }

  private async execute(task: Task, handler: RegisteredHandler, abort: TaskAbort): Promise<void> {
    const maxAttempts = task.maxRetries !== undefined && task.maxRetries !== null ? task.maxRetries + 1 : handler.retries.attempts;
    if (task.attempts > maxAttempts) {
      // The last allowed try was lost with its worker (lease expired); it counted, so the task is dead.
      const error = new Error(`attempt ${task.attempts} exceeds the ${maxAttempts} allowed: an earlier try was lost when its worker stopped`);
      this.logger.error(`${taskLabel(task)} is dead: ${error.message}`);
      await this.queue.fail(task, error, null, 0);
      return;
    }
    const ctx: TaskContext = {
      taskId: task.taskId,
      type: task.type,
      attempt: task.attempts,
      maxAttempts,
      task,
      get signal() {
        return abort.signal;
      },
    };
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      if (handler.timeoutMs !== undefined) timer = this.armTimeout(abort, handler.timeoutMs);
      const result = await abort.race(handler.fn(task.params, ctx));
      clearTimeout(timer);
      await this.queue.complete(task, result, performance.now() - started);
    } catch (raw) {
      clearTimeout(timer);
      const durationMs = performance.now() - started;
      const error = raw instanceof Error ? raw : new Error(String(raw));
      if (abort.reason instanceof ShutdownAbort && error === abort.reason) {
        this.logger.warn(`${taskLabel(task)} was interrupted by shutdown after ${Math.round(durationMs)} ms; it is released without using an attempt`);
        await this.queue.release(task);
        return;
      }
      const retryAt = task.attempts < maxAttempts ? new Date(this.queue.now() + backoffDelay(handler.retries, task.attempts)) : null;
      const next = retryAt ? `retry ${task.attempts + 1}/${maxAttempts} at ${retryAt.toISOString()}` : `dead after ${task.attempts} attempt(s)`;
      const line = `${taskLabel(task)} failed on attempt ${task.attempts}/${maxAttempts}: ${error.message}; ${next}`;
      // a try that will be retried is a warning; the error level is kept for tasks that end dead
      if (retryAt) this.logger.warn(line);
      else this.logger.error(line, error);
      await this.queue.fail(task, error, retryAt, durationMs);
    }
  }

  private armTimeout(abort: TaskAbort, timeoutMs: number): NodeJS.Timeout {
    const timer = setTimeout(() => abort.abort(new TaskTimeoutError(timeoutMs)), timeoutMs);
    timer.unref();
    return timer;
  }
}
