import type { LogLevel } from '@nestjs/common';
import { describeValue, InvalidOptionsError } from './errors/errors';
import type { QueueSchedulerModuleOptions, ResolvedOptions, RetryPolicy } from './interfaces/options.interface';
import { DEFAULT_OPTIONS, MAX_TIMER_MS } from './queue-scheduler.constants';
import { assertTimezone } from './scheduler/math/schedule-math';
import { requireOpenTelemetry } from './tracing/open-telemetry';

const LOG_LEVELS: readonly LogLevel[] = ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'];
const MISFIRE_POLICIES = ['fire_once', 'fire_all', 'skip'] as const;
const MAX_LOOKAHEAD_MS = 3_600_000;
/** The shortest queue.clusterEventsRetentionMs: a reader keeps up within it (see validate). */
const MIN_EVENT_RETENTION_MS = 10_000;

function fail(field: string, rule: string, value: unknown): never {
  throw new InvalidOptionsError(field, `${field} ${rule}, got ${describeValue(value)}`);
}

function positiveInt(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) fail(field, 'must be a positive integer', value);
  return value;
}

function nonNegative(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(field, 'must be a finite number >= 0', value);
  return value;
}

/**
 * A duration some timer waits for (`msPerUnit` 1000 for a value in seconds). Node runs a timer longer than
 * MAX_TIMER_MS after 1 ms: such a value was accepted and then fired every millisecond.
 */
function timerDuration(field: string, value: number, msPerUnit = 1): number {
  const max = Math.floor(MAX_TIMER_MS / msPerUnit);
  if (value > max) fail(field, `must be at most ${max} ${msPerUnit === 1 ? 'ms' : 'seconds'} (about 24.8 days, the longest timer Node keeps)`, value);
  return value;
}

/**
 * `queue.retentionDays` as whole milliseconds (0: keep). Any length is accepted, so it is capped at the
 * span a Date can hold (8.64e15 ms): a cutoff before 1970 finds nothing, and none becomes a fraction of a
 * ms (PostgreSQL refuses one for a bigint) or Infinity (BullMQ cannot send it to Redis).
 */
export function retentionMs(days: number): number {
  return days > 0 ? Math.min(Math.ceil(days * 86_400_000), 8.64e15) : 0;
}

/**
 * `given` over `defaults`, an option set to undefined taking its default (a config value left unset). A group that
 * is given must be an object: null, like any other value, is refused (it read as "every default").
 */
function withDefaults<T extends object>(field: string, defaults: T, given: Partial<T> | undefined): T {
  if (given !== undefined && (given === null || typeof given !== 'object' || Array.isArray(given))) fail(field, 'must be an object of options', given);
  const merged = { ...defaults };
  for (const [key, value] of Object.entries(given ?? {})) if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  return merged;
}

/** An option's value, its default when undefined (not when null: null is a value, and refused by the checks). */
const given = <T>(value: T | undefined, fallback: T): T => (value === undefined ? fallback : value);

function bool(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(field, 'must be true or false', value);
  return value;
}

/** Checks a retry policy; `field` names where it came from (options or a handler). */
export function validateRetryPolicy(field: string, policy: RetryPolicy): Required<RetryPolicy> {
  const merged = withDefaults(field, DEFAULT_OPTIONS.retries, policy);
  positiveInt(`${field}.attempts`, merged.attempts);
  if (merged.backoff !== 'fixed' && merged.backoff !== 'exponential') {
    fail(`${field}.backoff`, "must be 'fixed' or 'exponential'", merged.backoff);
  }
  timerDuration(`${field}.delayMs`, nonNegative(`${field}.delayMs`, merged.delayMs));
  timerDuration(`${field}.maxDelayMs`, nonNegative(`${field}.maxDelayMs`, merged.maxDelayMs));
  if (nonNegative(`${field}.jitter`, merged.jitter) > 1) fail(`${field}.jitter`, 'must be between 0 and 1', merged.jitter);
  return merged;
}

function validateRedisOptions(connection: unknown, prefix: unknown): void {
  if (typeof connection === 'string') {
    if (!/^rediss?:\/\/./.test(connection)) fail('queue.connection', 'must be a redis:// or rediss:// URL or an ioredis options object', connection);
  } else if (connection === null || typeof connection !== 'object' || Array.isArray(connection)) {
    fail('queue.connection', 'must be a redis:// or rediss:// URL or an ioredis options object', connection);
  }
  // glob characters would make the SCAN patterns of the public store match other keys
  if (typeof prefix !== 'string' || !/^[^\s*?[\]\\]{1,64}$/.test(prefix)) fail('queue.prefix', 'must be 1 to 64 characters without spaces or * ? [ ] \\', prefix);
}

/**
 * Fills in defaults and validates every option once, so the rest of the
 * library reads plain values and a typo stops start-up with its field named.
 */
export function resolveOptions(options: QueueSchedulerModuleOptions = {}): ResolvedOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) fail('options', 'must be an object of options', options);
  const d = DEFAULT_OPTIONS;
  const workers = withDefaults('workers', d.workers, options.workers);
  const store = withDefaults('store', d.store, options.store);
  const scheduler = withDefaults('scheduler', d.scheduler, options.scheduler);
  const queue = withDefaults('queue', d.queue, options.queue);
  const resolved: ResolvedOptions = {
    workers,
    store,
    scheduler,
    queue,
    sqlite: withDefaults('sqlite', d.sqlite, options.sqlite),
    shutdownTimeoutMs: given(options.shutdownTimeoutMs, d.shutdownTimeoutMs),
    retries: validateRetryPolicy('retries', given(options.retries, d.retries)),
    logLevel: given(options.logLevel, d.logLevel),
    autoStart: given(options.autoStart, d.autoStart),
    tracing: given(options.tracing, d.tracing),
  };
  positiveInt('workers.concurrency', workers.concurrency);
  bool('workers.enabled', workers.enabled);
  timerDuration('store.cleanupIntervalSeconds', positiveInt('store.cleanupIntervalSeconds', store.cleanupIntervalSeconds), 1000);
  bool('scheduler.enabled', scheduler.enabled);
  timerDuration('scheduler.pollIntervalMs', positiveInt('scheduler.pollIntervalMs', scheduler.pollIntervalMs));
  nonNegative('scheduler.misfireGraceSeconds', scheduler.misfireGraceSeconds);
  positiveInt('scheduler.maxCatchUp', scheduler.maxCatchUp);
  positiveInt('scheduler.batchSize', scheduler.batchSize);
  // The database backend's worker claims lock task_queue rows that are not due yet, and a claim caught by an
  // event-loop stall then holds up the retention purge, and behind it the lease sweep, of the other instances:
  // occurrences queued ahead would be such rows all the time, so there it claims ahead only when asked to.
  if (options.scheduler?.lookaheadMs === undefined) scheduler.lookaheadMs = queue.backend === 'database' ? 0 : d.scheduler.lookaheadMs;
  // an hour bounds what a pause has to cancel and what a memory queue holds ahead
  if (typeof scheduler.lookaheadMs !== 'number' || !Number.isInteger(scheduler.lookaheadMs) || scheduler.lookaheadMs < 0 || scheduler.lookaheadMs > MAX_LOOKAHEAD_MS) {
    fail('scheduler.lookaheadMs', `must be an integer from 0 to ${MAX_LOOKAHEAD_MS}`, scheduler.lookaheadMs);
  }
  if (!MISFIRE_POLICIES.includes(scheduler.defaultMisfirePolicy)) {
    fail('scheduler.defaultMisfirePolicy', `must be one of ${MISFIRE_POLICIES.join(', ')}`, scheduler.defaultMisfirePolicy);
  }
  try {
    assertTimezone(scheduler.defaultTimezone, 'scheduler.defaultTimezone');
  } catch {
    fail('scheduler.defaultTimezone', 'must be a known IANA time zone', scheduler.defaultTimezone);
  }
  positiveInt('queue.maxPayloadBytes', queue.maxPayloadBytes);
  positiveInt('queue.maxResultBytes', queue.maxResultBytes);
  positiveInt('store.maxValueBytes', store.maxValueBytes);
  if (typeof queue.maxLostTries !== 'number' || !Number.isInteger(queue.maxLostTries) || queue.maxLostTries < 0 || queue.maxLostTries > 1000) {
    fail('queue.maxLostTries', 'must be an integer from 0 to 1000', queue.maxLostTries);
  }
  positiveInt('queue.historySize', queue.historySize);
  if (!['memory', 'database', 'redis'].includes(queue.backend)) fail('queue.backend', "must be 'memory', 'database' or 'redis'", queue.backend);
  validateRedisOptions(queue.connection, queue.prefix);
  timerDuration('queue.progressIntervalMs', nonNegative('queue.progressIntervalMs', queue.progressIntervalMs));
  timerDuration('queue.pollIntervalMs', positiveInt('queue.pollIntervalMs', queue.pollIntervalMs));
  timerDuration('queue.leaseMs', positiveInt('queue.leaseMs', queue.leaseMs));
  if (queue.leaseMs < 1000) fail('queue.leaseMs', 'must be at least 1000', queue.leaseMs);
  timerDuration('queue.sweepIntervalMs', positiveInt('queue.sweepIntervalMs', queue.sweepIntervalMs));
  nonNegative('queue.retentionDays', queue.retentionDays);
  bool('queue.clusterEvents', queue.clusterEvents);
  // compared with the events' ages, never waited for: any length above the floor. Below it the sweep deleted rows a
  // reader had not reached yet: a poll, or the 2 s a reader waits on a gap in the ids, outlasted them (0 of 15 read)
  positiveInt('queue.clusterEventsRetentionMs', queue.clusterEventsRetentionMs);
  timerDuration('queue.clusterEventsPollMs', positiveInt('queue.clusterEventsPollMs', queue.clusterEventsPollMs));
  const retentionFloor = Math.max(MIN_EVENT_RETENTION_MS, 10 * queue.clusterEventsPollMs);
  if (queue.clusterEventsRetentionMs < retentionFloor) {
    fail('queue.clusterEventsRetentionMs', `must be at least ${retentionFloor} (10 s, and 10 × queue.clusterEventsPollMs: PostgreSQL's readers poll that slowly between notifications)`, queue.clusterEventsRetentionMs);
  }
  if (!['background', 'inline'].includes(resolved.sqlite.checkpoints)) fail('sqlite.checkpoints', "must be 'background' or 'inline'", resolved.sqlite.checkpoints);
  timerDuration('shutdownTimeoutMs', nonNegative('shutdownTimeoutMs', resolved.shutdownTimeoutMs));
  if (!LOG_LEVELS.includes(resolved.logLevel)) fail('logLevel', `must be one of ${LOG_LEVELS.join(', ')}`, resolved.logLevel);
  bool('autoStart', resolved.autoStart);
  // the package is looked for once, here: a missing one stops start-up rather than leaving tracing silently off
  if (bool('tracing', resolved.tracing)) requireOpenTelemetry();
  return resolved;
}
