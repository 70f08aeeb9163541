import type { ResolvedOptions } from './interfaces/options.interface';

/** Injection token of the options after defaults and validation. */
export const RESOLVED_OPTIONS = Symbol('QUEUE_SCHEDULER_RESOLVED_OPTIONS');

/** Injection token of the host app's TypeORM DataSource the library uses (see the `dataSource` extra). */
export const SCHEDULER_DATA_SOURCE = Symbol('QUEUE_SCHEDULER_DATA_SOURCE');

export const DEFAULT_OPTIONS: ResolvedOptions = {
  workers: { concurrency: 3, enabled: true },
  store: { cleanupIntervalSeconds: 60, maxValueBytes: 1_048_576 },
  scheduler: {
    enabled: true,
    pollIntervalMs: 1000,
    defaultTimezone: 'UTC',
    misfireGraceSeconds: 60,
    defaultMisfirePolicy: 'fire_once',
    maxCatchUp: 100,
    batchSize: 100,
    // Not a whole second: schedules sit on whole seconds, so a 1000 ms lookahead claimed every per-second schedule's
    // next run at the very instant its last run's handlers started, and the two bursts shared the event loop
    // (docs/perf-notes-issue20-sqlite.md, "The lookahead"). 750 ms claims a quarter second after them.
    lookaheadMs: 750,
  },
  queue: { backend: 'memory', connection: { host: '127.0.0.1', port: 6379 }, prefix: 'qs', maxPayloadBytes: 1_048_576, maxResultBytes: 1_048_576, maxLostTries: 1, historySize: 1000, progressIntervalMs: 250, pollIntervalMs: 500, leaseMs: 30_000, sweepIntervalMs: 5000, retentionDays: 30, clusterEvents: false, clusterEventsRetentionMs: 3_600_000, clusterEventsPollMs: 100 },
  sqlite: { checkpoints: 'background' },
  shutdownTimeoutMs: 10_000,
  retries: { attempts: 1, backoff: 'exponential', delayMs: 1000, jitter: 0, maxDelayMs: 3_600_000 },
  logLevel: 'log',
  autoStart: true,
  tracing: false,
};

/** Longest delay setTimeout honours; larger values fire at once in Node, so timers are re-armed in steps. */
export const MAX_TIMER_MS = 2_147_483_647;
