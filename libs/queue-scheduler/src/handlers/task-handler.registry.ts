import { Inject, Injectable } from '@nestjs/common';
import { describeValue, DuplicateTaskHandlerError, InvalidTaskHandlerError, QueueSchedulerError } from '../errors/errors';
import type { ResolvedOptions, ResolvedRetryPolicy, RetryPolicy } from '../interfaces/options.interface';
import type { RateLimit, TaskHandlerFn, TaskHandlerOptions } from '../interfaces/task-handler.interface';
import { MAX_TIMER_MS, RESOLVED_OPTIONS } from '../queue-scheduler.constants';
import { validateRetryPolicy } from '../queue-scheduler.options';
import { keyProblem } from '../queue/json-value';
import { MAX_KEY_LENGTH } from '../queue/task-validation';

export interface RegisteredHandler {
  readonly type: string;
  /** `Class.method`, for messages. */
  readonly name: string;
  readonly fn: TaskHandlerFn;
  readonly concurrency: number;
  readonly timeoutMs?: number;
  readonly retries: ResolvedRetryPolicy;
  /** Paused at start-up (`pauseType`) before any worker claims. */
  readonly paused: boolean;
  readonly rateLimit?: RateLimit;
}

/**
 * Task type → handler. Filled once at start-up by the explorer (or by hand
 * with `register`); a second handler for a type is an error, never an override.
 * @publicApi
 */
@Injectable()
export class TaskHandlerRegistry {
  private readonly handlers = new Map<string, RegisteredHandler>();

  constructor(@Inject(RESOLVED_OPTIONS) private readonly options: ResolvedOptions) {}

  register(type: string, name: string, fn: TaskHandlerFn, options: TaskHandlerOptions = {}): RegisteredHandler {
    const where = `@TaskHandler(${describeValue(type)}) on ${name}`;
    if (typeof type !== 'string' || type.trim() === '') {
      throw new InvalidTaskHandlerError(`${where}: type must be a non-empty string`, 'type');
    }
    // as a push checks it: a type no push can carry would leave the handler dead code, found only at the first push
    const problem = keyProblem(type, MAX_KEY_LENGTH);
    if (problem) throw new InvalidTaskHandlerError(`${where}: type ${problem}`, 'type');
    const existing = this.handlers.get(type);
    if (existing) {
      throw new DuplicateTaskHandlerError(
        `Two handlers for task type '${type}': ${existing.name} and ${name}. Each type needs exactly one @TaskHandler.`,
      );
    }
    const { concurrency, timeoutMs } = options;
    if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency <= 0)) {
      throw new InvalidTaskHandlerError(`${where}: concurrency must be a positive integer, got ${describeValue(concurrency)}`, 'concurrency');
    }
    // a longer timeout would be a timer Node runs after 1 ms: every try would time out at once
    if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs > MAX_TIMER_MS)) {
      throw new InvalidTaskHandlerError(`${where}: timeoutMs must be a positive number of ms, at most ${MAX_TIMER_MS} (about 24.8 days), got ${describeValue(timeoutMs)}`, 'timeoutMs');
    }
    if (options.paused !== undefined && typeof options.paused !== 'boolean') {
      throw new InvalidTaskHandlerError(`${where}: paused must be true or false, got ${describeValue(options.paused)}`, 'paused');
    }
    const { rateLimit } = options;
    if (rateLimit !== undefined) {
      if (rateLimit === null || typeof rateLimit !== 'object') throw new InvalidTaskHandlerError(`${where}: rateLimit must be { max, perMs }, got ${describeValue(rateLimit)}`, 'rateLimit');
      if (!Number.isInteger(rateLimit.max) || rateLimit.max <= 0 || rateLimit.max > 1_000_000) {
        throw new InvalidTaskHandlerError(`${where}: rateLimit.max must be an integer from 1 to 1000000, got ${describeValue(rateLimit.max)}`, 'rateLimit.max');
      }
      if (!Number.isInteger(rateLimit.perMs) || rateLimit.perMs < 10 || rateLimit.perMs > MAX_TIMER_MS) {
        throw new InvalidTaskHandlerError(`${where}: rateLimit.perMs must be an integer number of ms from 10 to ${MAX_TIMER_MS}, got ${describeValue(rateLimit.perMs)}`, 'rateLimit.perMs');
      }
    }
    let retries = this.options.retries;
    try {
      // over the module's policy; null, like any other non-object, is refused (the module's options refuse it too)
      const own: unknown = options.retries;
      if (own !== undefined) retries = validateRetryPolicy('retries', own !== null && typeof own === 'object' ? { ...this.options.retries, ...own } : (own as RetryPolicy));
    } catch (err) {
      throw new InvalidTaskHandlerError(`${where}: ${(err as QueueSchedulerError).message}`, (err as { field?: string }).field);
    }
    const handler: RegisteredHandler = { type, name, fn, concurrency: concurrency ?? Infinity, timeoutMs, retries, paused: options.paused === true, ...(rateLimit && { rateLimit: { max: rateLimit.max, perMs: rateLimit.perMs } }) };
    this.handlers.set(type, handler);
    return handler;
  }

  get(type: string): RegisteredHandler | undefined {
    return this.handlers.get(type);
  }

  types(): string[] {
    return [...this.handlers.keys()];
  }

  all(): RegisteredHandler[] {
    return [...this.handlers.values()];
  }
}
