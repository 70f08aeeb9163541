import type { LogLevel } from '@nestjs/common';
import type { MisfirePolicy } from '../scheduler/math/schedule-math';

/** How a failed task is tried again. @publicApi */
export interface RetryPolicy {
  /** Total tries including the first (BullMQ's meaning). @default 1 */
  attempts: number;
  /** @default 'exponential' */
  backoff?: 'fixed' | 'exponential' | undefined;
  /** Base delay: fixed waits this long, exponential waits delayMs * 2^(try-1). @default 1000 */
  delayMs?: number | undefined;
  /** Randomise each delay by up to this fraction (0..1) so retries do not stampede. @default 0 */
  jitter?: number | undefined;
  /** Upper bound of one delay. @default 3_600_000 */
  maxDelayMs?: number | undefined;
}

/** @publicApi */
export interface WorkerOptions {
  /** Consumers running tasks at once in this process. @default 3 */
  concurrency?: number | undefined;
  /** false: this instance only produces (pushes, schedules) and runs no handler. @default true */
  enabled?: boolean | undefined;
}

/** @publicApi */
export interface StoreOptions {
  /** How often expired public-store keys are swept (they are never returned once expired). @default 60 */
  cleanupIntervalSeconds?: number | undefined;
  /** Largest accepted store value, as JSON bytes (every backend; a larger one is refused with InvalidArgumentError). @default 1_048_576 */
  maxValueBytes?: number | undefined;
}

/** @publicApi */
export interface SchedulerOptions {
  /** false: no schedule fires in this instance (the API still works). @default true */
  enabled?: boolean | undefined;
  /** Longest sleep between looks at the table, so changes by other instances are seen. @default 1000 */
  pollIntervalMs?: number | undefined;
  /** IANA zone for cron schedules that name none. @default 'UTC' */
  defaultTimezone?: string | undefined;
  /** Lateness up to which an occurrence counts as on time and simply runs. @default 60 */
  misfireGraceSeconds?: number | undefined;
  /** @default 'fire_once' */
  defaultMisfirePolicy?: MisfirePolicy | undefined;
  /** Most occurrences one `fire_all` catch-up enqueues. @default 100 */
  maxCatchUp?: number | undefined;
  /** Due schedules claimed per query; at most 25 on SQLite, whose claims run on the event loop's thread. @default 100 */
  batchSize?: number | undefined;
  /**
   * How far ahead occurrences are claimed and queued as delayed tasks that start
   * at their scheduled time, so the queue's timer, not the speed of a claim,
   * decides when they start. 0: claim each occurrence when it is due. A manual
   * clock (the testing module) always behaves as 0. @default 750 (0 with `queue.backend: 'database'`)
   */
  lookaheadMs?: number | undefined;
}

/**
 * Where the redis backend connects: ioredis options (`host`, `port`, `password`, `db`, `tls`, …)
 * or a `redis://` / `rediss://` URL. @publicApi
 */
export type RedisConnectionOptions = string | ({ host?: string | undefined; port?: number | undefined; username?: string | undefined; password?: string | undefined; db?: number | undefined } & Record<string, unknown>);

/** @publicApi */
export interface QueueOptions {
  /**
   * Where tasks live: in this process, in the `task_queue` table shared by every instance,
   * or in Redis through BullMQ (`bullmq` and `ioredis` must be installed). @default 'memory'
   */
  backend?: 'memory' | 'database' | 'redis' | undefined;
  /** redis: the server. @default { host: '127.0.0.1', port: 6379 } */
  connection?: RedisConnectionOptions | undefined;
  /** redis: the first part of every key, so several apps can share one Redis. @default 'qs' */
  prefix?: string | undefined;
  /** Largest accepted `params`, as JSON bytes. @default 1_048_576 */
  maxPayloadBytes?: number | undefined;
  /**
   * Largest handler result stored with a task, as JSON bytes. A larger one fails
   * that try with `ResultTooLargeError` (it would pass MySQL's max_allowed_packet
   * and never be written). @default 1_048_576
   */
  maxResultBytes?: number | undefined;
  /**
   * database, redis: how many tries lost with their worker (process killed, lease
   * expired) a task may have before it is dead; they are counted apart from failed
   * tries, so the retry policy's `attempts` is not used up by crashes (BullMQ's
   * `maxStalledCount`). 0: a lost try makes the task dead. @default 1
   */
  maxLostTries?: number | undefined;
  /**
   * memory: finished tasks kept for `getTask` / `listTasks`: the last `historySize`
   * succeeded or cancelled ones, and apart from them the last `historySize` dead ones
   * (`listDeadTasks`), so a burst of successes never pushes out the dead. Older ones are
   * forgotten; `countByStatus` still counts every task of the process. @default 1000
   */
  historySize?: number | undefined;
  /**
   * Shortest time between two writes of one try's `ctx.progress()` reports;
   * the last report of a window is written when it closes. 0 writes every report. @default 250
   */
  progressIntervalMs?: number | undefined;
  /** database, redis: longest an idle instance waits before looking for tasks pushed elsewhere. @default 500 */
  pollIntervalMs?: number | undefined;
  /** database, redis: a running task's lease (redis: the BullMQ job lock); renewed every third of it while the handler runs. @default 30000 */
  leaseMs?: number | undefined;
  /** database, redis: how often expired leases are reclaimed (redis: BullMQ's stalled check) and old rows purged. @default 5000 */
  sweepIntervalMs?: number | undefined;
  /** database, redis: finished tasks (succeeded, dead, cancelled) older than this many days are deleted; 0 keeps them. @default 30 */
  retentionDays?: number | undefined;
  /**
   * Turns on `clusterEvents$`: every instance sees the outcome events (succeeded, retrying, dead, cancelled)
   * of every task. On the databases each outcome then also writes a `task_event` row (in the batch and
   * transaction of its status change); off, nothing more is written. Every instance must agree. @default false
   */
  clusterEvents?: boolean | undefined;
  /** database, memory: how long cluster events are kept for a consumer that resumes with `after`. @default 3_600_000 (1 h) */
  clusterEventsRetentionMs?: number | undefined;
  /** database: how often a `clusterEvents$` subscriber reads new events (PostgreSQL: a fallback, NOTIFY wakes it). @default 100 */
  clusterEventsPollMs?: number | undefined;
}

/** @publicApi */
export interface SqliteOptions {
  /**
   * Where SQLite's WAL checkpoints run for a better-sqlite3 data source in WAL mode on a file.
   * 'background': in a worker thread with its own connection, every 200 ms, and the app's
   * connection gets `wal_autocheckpoint = 0` (its previous value returns on shutdown or if the
   * thread stops), so no commit on the event loop copies the WAL into the database file.
   * 'inline': SQLite's default, the commit that crosses `wal_autocheckpoint` checkpoints;
   * nothing on the connection is changed. @default 'background'
   */
  checkpoints?: 'background' | 'inline' | undefined;
}

/** Options of `QueueSchedulerModule.forRoot`. @publicApi */
export interface QueueSchedulerModuleOptions {
  workers?: WorkerOptions | undefined;
  store?: StoreOptions | undefined;
  scheduler?: SchedulerOptions | undefined;
  queue?: QueueOptions | undefined;
  sqlite?: SqliteOptions | undefined;
  /** Grace period for in-flight tasks on `app.close()`, then their AbortSignal fires. @default 10000 */
  shutdownTimeoutMs?: number | undefined;
  /** Default retry policy of handlers that declare none. @default { attempts: 1, backoff: 'exponential', delayMs: 1000, jitter: 0, maxDelayMs: 3600000 } */
  retries?: RetryPolicy | undefined;
  /** Lowest level the library logs at. @default 'log' */
  logLevel?: LogLevel | undefined;
  /** false: nothing starts on bootstrap (call `start()` yourself; for tests and CLIs). @default true */
  autoStart?: boolean | undefined;
  /**
   * OpenTelemetry spans through the app's `@opentelemetry/api` (an optional
   * peer: start-up stops naming it when it is not installed): a `queue.push`
   * span at a push made inside a span, whose context is stored with the task;
   * a `queue.task` span per try, linked to it; a `queue.scheduler.claim` span
   * per claim of due schedules. Off: nothing is captured or stored, at no cost.
   * @default false
   */
  tracing?: boolean | undefined;
}

export type ResolvedRetryPolicy = Required<RetryPolicy>;

/** Options with every default filled in, validated once at start-up. */
export interface ResolvedOptions {
  workers: Required<WorkerOptions>;
  store: Required<StoreOptions>;
  scheduler: Required<SchedulerOptions>;
  queue: Required<QueueOptions>;
  sqlite: Required<SqliteOptions>;
  shutdownTimeoutMs: number;
  retries: ResolvedRetryPolicy;
  logLevel: LogLevel;
  autoStart: boolean;
  tracing: boolean;
}
