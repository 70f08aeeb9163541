import { describeValue } from './describe-value';

export { describeValue };

/**
 * Base class of every error the library throws on purpose, so callers can
 * tell "you asked for something invalid" apart from infrastructure failures.
 * @publicApi
 */
export class QueueSchedulerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A task given to `pushTask` (or a task option) is not acceptable; nothing was queued. @publicApi */
export class InvalidTaskError extends QueueSchedulerError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** A schedule definition is not acceptable; nothing was written. @publicApi */
export class InvalidScheduleError extends QueueSchedulerError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** A module option is not acceptable; start-up stops. @publicApi */
export class InvalidOptionsError extends QueueSchedulerError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** No task or schedule has this id. @publicApi */
export class TaskNotFoundError extends QueueSchedulerError {
  readonly taskId: string;

  constructor(taskId: string, what: 'task' | 'schedule' = 'task') {
    // as text whatever the caller passed: String() throws for a Symbol or an object without a usable toString
    super(`No ${what} with id '${(taskId = typeof taskId === 'string' ? taskId : describeValue(taskId))}'`);
    this.taskId = taskId;
  }
}

/** Two `@TaskHandler` methods claim the same task type; start-up stops. @publicApi */
export class DuplicateTaskHandlerError extends QueueSchedulerError {}

/** A task type has no `@TaskHandler`; the task is dead-lettered with this error. @publicApi */
export class NoTaskHandlerError extends QueueSchedulerError {
  constructor(readonly type: string) {
    super(`no @TaskHandler for type '${type}'`);
  }
}

/** The handler did not settle within its `timeoutMs` (`kind` 'timeout', the reason `ctx.signal` aborts with); counts as a failed attempt. @publicApi */
export class TaskTimeoutError extends QueueSchedulerError {
  readonly kind = 'timeout' as const;

  constructor(
    readonly timeoutMs: number,
    /** The task whose try timed out: the message is stored as its error, so it does not repeat the id. */
    readonly taskId: string,
  ) {
    super(`handler timed out after ${timeoutMs} ms`);
  }
}

/** `onTaskFinished` gave up after its `timeoutMs`; the task goes on. @publicApi */
export class TaskWaitTimeoutError extends QueueSchedulerError {
  constructor(
    readonly taskId: string,
    readonly timeoutMs: number,
  ) {
    super(`task '${taskId}' did not finish within ${timeoutMs} ms`);
  }
}

/**
 * A look at the backend for a health check or a metrics scrape got no answer within its time (`.timeoutMs`):
 * the backend is away or a connection hangs; `.what` names the look. @publicApi
 */
export class BackendTimeoutError extends QueueSchedulerError {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(`${what} timed out after ${timeoutMs} ms`);
  }
}

/**
 * A wait ended because the queue closed (the app is shutting down): `onTaskFinished` before its task finished
 * (`taskId` names it), or `onIdle` before the queue was idle (`taskId` undefined).
 */
export class QueueClosedError extends QueueSchedulerError {
  constructor(
    readonly taskId?: string,
    message?: string,
  ) {
    super(message ?? (taskId === undefined ? 'stopped waiting for the queue to be idle: the queue closed first' : `stopped waiting for task '${taskId}': the queue closed before it finished`));
  }
}

/** An argument other than a task or schedule is not acceptable (e.g. a store TTL); nothing was written. @publicApi */
export class InvalidArgumentError extends QueueSchedulerError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A `@TaskHandler` cannot be registered (bad options, request-scoped provider); start-up stops.
 * `.field` names the bad option (`timeoutMs`, `rateLimit.max`, `retries.delayMs`, …) when one is. @publicApi
 */
export class InvalidTaskHandlerError extends QueueSchedulerError {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/**
 * A handler's result cannot be stored as JSON (a function, a BigInt, a lone
 * surrogate, nesting past the limit); the try fails with this error. @publicApi
 */
export class InvalidResultError extends QueueSchedulerError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A value given to `ctx.progress()` is not a percentage (0–100) or a small
 * JSON object; nothing was stored and the try goes on. @publicApi
 */
export class InvalidProgressError extends QueueSchedulerError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The reason `ctx.signal` aborts with when `cancelTask` cancels a running
 * task (`kind` 'cancelled'): the task ends cancelled and is not retried,
 * whatever the handler does after. @publicApi
 */
export class TaskCancelledError extends QueueSchedulerError {
  readonly kind = 'cancelled' as const;

  constructor(readonly taskId: string) {
    super(`task ${taskId} was cancelled while it ran`);
  }
}

/**
 * Thrown by a handler to back off (the API it calls said "too many"): the
 * task goes back to the queue and starts again no sooner than `retryAfterMs`
 * from now, without using an attempt. @publicApi
 */
export class RateLimitedError extends QueueSchedulerError {
  readonly retryAfterMs: number;

  constructor(retryAfterMs: number, message = `rate limited: retry after ${retryAfterMs} ms`) {
    super(message);
    if (typeof retryAfterMs !== 'number' || !Number.isFinite(retryAfterMs) || retryAfterMs < 0 || retryAfterMs > 2_147_483_647) {
      throw new InvalidArgumentError('retryAfterMs', `retryAfterMs must be a number of ms from 0 to 2147483647, got ${describeValue(retryAfterMs)}`);
    }
    this.retryAfterMs = retryAfterMs;
  }
}

/** A handler's result is larger than `queue.maxResultBytes` as JSON; the try fails with this error. @publicApi */
export class ResultTooLargeError extends InvalidResultError {}

/**
 * A task's tries were lost with their worker (the process died or stalled past
 * its lease) more than `queue.maxLostTries` times; the task is dead. @publicApi
 */
export class TaskLostError extends QueueSchedulerError {
  constructor(
    readonly lostTries: number,
    readonly maxLostTries: number,
  ) {
    super(`${lostTries} tries were lost with their worker (process stopped or stalled past its lease), more than queue.maxLostTries (${maxLostTries})`);
  }
}

/**
 * A feature needs an optional peer package that is not installed (`prom-client`
 * for `nestjs-queue-scheduler/prometheus`, `@opentelemetry/api` for
 * `tracing: true`, `bullmq` or `ioredis` for `queue.backend: 'redis'`);
 * start-up stops. `.packageName` names it, the message says how to install
 * it (`install`: the packages to name there, when the feature needs more than one). @publicApi
 */
export class MissingPackageError extends QueueSchedulerError {
  constructor(
    readonly packageName: string,
    feature: string,
    install: string = packageName,
  ) {
    super(`${feature} needs the package '${packageName}', which is not installed: run npm install ${install}`);
  }
}

/**
 * The selected backend cannot do this yet (flows on Redis): nothing was
 * written. `feature` names what was asked for. @publicApi
 */
export class NotSupportedError extends QueueSchedulerError {
  constructor(
    readonly feature: string,
    readonly backend: string,
  ) {
    super(`${feature} is not supported on the ${backend} backend yet`);
  }
}

/**
 * The library's tables are not all in the database, or lack a column a later
 * migration adds: its migrations have not run (and TypeORM's `synchronize` is
 * off). Start-up stops; `.tables` names each table found missing or out of date. @publicApi
 */
export class SchemaNotReadyError extends QueueSchedulerError {
  constructor(
    readonly tables: string[],
    details: string[],
  ) {
    super(
      `table(s) ${tables.join(', ')} missing or out of date in the database (${details.join('; ')}): run the library's migrations ` +
        `(QUEUE_SCHEDULER_MIGRATIONS, see the README's "Tables and migrations"), or set TypeORM's synchronize: true in development`,
    );
  }
}
