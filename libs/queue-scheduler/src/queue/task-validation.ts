import { randomUUID } from 'node:crypto';
import { describeValue, InvalidArgumentError, InvalidTaskError } from '../errors/errors';
import type { PushTaskInput } from '../interfaces/task.interface';
import { emptyObject, keyProblem, normalizeJson } from './json-value';
import { callOptions } from './call-options';

/** A push after validation: every field present, ready to be queued or inserted. */
export interface NormalizedTask {
  taskId: string;
  /** The id was made for this push (no taskId given): no task can have it yet. */
  generatedId: boolean;
  type: string;
  params: unknown;
  /** The push gave no params: `params` is a new `{}` (a backend may make it later instead). */
  noParams: boolean;
  priority: number;
  /** Not before this, epoch ms. */
  runAtMs: number;
  maxRetries?: number;
  schedulerTaskId?: string;
  scheduledAt?: Date;
  /** The push's singleton rule; undefined for a push without `singletonKey` (the common case). */
  singleton: SingletonRule | undefined;
  /** Set by a backend with `tracing: true` when a span is active at the push (see QueueTracing.pushed); validated, never raw. */
  traceContext: string | undefined;
}

/**
 * How a push with `singletonKey` meets the key's standing task: `singleton`
 * drops it while that task is pending, `debounce` folds it into that task,
 * `throttle` drops it for `ms` after the key's last accepted push.
 */
export interface SingletonRule {
  readonly key: string;
  readonly mode: 'singleton' | 'debounce' | 'throttle';
  /** debounceMs or throttleMs; 0 for `singleton`. */
  readonly ms: number;
}

/** The range of the INT columns (priority, max_retries, max_runs): MySQL's INSERT IGNORE would clamp a larger value silently. */
export const INT32_MIN = -(2 ** 31);
export const INT32_MAX = 2 ** 31 - 1;
/** The latest instant a Date can hold. */
export const MAX_EPOCH_MS = 8.64e15;

export function isInt32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX;
}

function bad(field: string, rule: string, value: unknown): never {
  throw new InvalidTaskError(field, `${field} ${rule}, got ${describeValue(value)}`);
}

const refuseParams = (field: string, message: string): Error => new InvalidTaskError(field, message);

/**
 * Params as every backend stores and hands them to the handler: the JSON
 * round trip of what was pushed (see normalizeJson), `{}` for none.
 */
export function serializeParams(params: unknown, maxBytes: number): unknown {
  // a marker, not a `{}` argument: that literal was made (56 bytes) on every push, params given or not
  const value = normalizeJson(params, 'params', maxBytes, 'queue.maxPayloadBytes', refuseParams, NO_PARAMS);
  return value === NO_PARAMS ? emptyObject() : value;
}

const NO_PARAMS = Symbol('no params');

/** Ids and types are compared byte for byte by every backend; these are what none of them can store as given. */
export const MAX_KEY_LENGTH = 191;
/** `task_queue.scheduler_task_id` is a varchar(36): MySQL truncated a longer one. */
export const MAX_SCHEDULE_ID_LENGTH = 36;

/**
 * Whether a task id or store key asked for could be one a push stored. A lookup refuses the rest before it reaches
 * the backend: PostgreSQL would refuse a NUL in the query itself, and Redis sends a lone surrogate as U+FFFD (and a
 * number as its digits), which would find another task or key.
 */
export const storableKey = (value: unknown): value is string => keyProblem(value, MAX_KEY_LENGTH) === null;

/**
 * cancelTask's options: undefined and null read as none; `running` must be a boolean when given (the string 'false'
 * would have read as true and cancelled a running task). Checked before anything is cancelled.
 */
export function cancelOptions(options: unknown): { running?: boolean } {
  const { running } = callOptions(options, 'options', '{ running: false }');
  if (running !== undefined && typeof running !== 'boolean') throw new InvalidArgumentError('options.running', `options.running must be true or false, got ${describeValue(running)}`);
  return { running };
}

function key(field: string, value: unknown, maxLength = MAX_KEY_LENGTH): void {
  const problem = keyProblem(value, maxLength);
  if (problem) bad(field, problem, value);
}

/**
 * Validates every push of a batch before any is queued, so a bad one queues
 * none; the error names its place (`inputs[2].params.a`).
 */
export function normalizeBatch<T>(inputs: unknown, normalize: (input: PushTaskInput) => T): T[] {
  // not a bad task but a bad argument: no task of it can be named
  if (!Array.isArray(inputs)) throw new InvalidArgumentError('inputs', `inputs must be an array of tasks, got ${describeValue(inputs)}`);
  // by index: a hole of a sparse array is read as undefined and refused (map skipped it)
  const tasks: T[] = [];
  for (let i = 0; i < inputs.length; i++) {
    try {
      tasks.push(normalize(inputs[i] as PushTaskInput));
    } catch (err) {
      if (err instanceof InvalidTaskError) throw new InvalidTaskError(`inputs[${i}].${err.field}`, `inputs[${i}].${err.message}`);
      throw err;
    }
  }
  return tasks;
}

/**
 * Validates a push and fills its defaults; throws InvalidTaskError naming the
 * field. With `into`, the result is written there (a caller's scratch object
 * that is copied at once: no object made per push) and `into` is returned.
 */
export function normalizePush(input: PushTaskInput, maxPayloadBytes: number, now = Date.now(), newId: () => string = randomUUID, into?: NormalizedTask): NormalizedTask {
  if (input === null || typeof input !== 'object') bad('task', 'must be an object', input);
  const { taskId, type, priority = 0, delayMs: delayGiven = 0, maxRetries, schedulerTaskId, scheduledAt: scheduledGiven } = input;
  key('type', type);
  if ((type as string).trim() === '') bad('type', `must be a non-empty string of at most ${MAX_KEY_LENGTH} characters, not only whitespace`, type);
  if (taskId !== undefined) key('taskId', taskId);
  if (schedulerTaskId !== undefined) key('schedulerTaskId', schedulerTaskId, MAX_SCHEDULE_ID_LENGTH);
  if (!isInt32(priority)) bad('priority', `must be an integer from ${INT32_MIN} to ${INT32_MAX}`, priority);
  // beyond the last representable Date the run time would be Invalid Date: never due, and refused by the database
  if (typeof delayGiven !== 'number' || !Number.isFinite(delayGiven) || delayGiven < 0 || now + delayGiven > MAX_EPOCH_MS) {
    bad('delayMs', `must be a finite number >= 0 that ends by ${new Date(MAX_EPOCH_MS).toISOString()}`, delayGiven);
  }
  // whole ms, never earlier than asked: the databases keep run times in integer columns (PostgreSQL refuses 0.5)
  const delayMs = Math.ceil(delayGiven);
  if (maxRetries !== undefined && (!isInt32(maxRetries) || maxRetries < 0)) {
    bad('maxRetries', `must be an integer from 0 to ${INT32_MAX}`, maxRetries);
  }
  if (scheduledGiven !== undefined && !(scheduledGiven instanceof Date && Number.isFinite(scheduledGiven.getTime()))) {
    bad('scheduledAt', 'must be a valid Date', scheduledGiven);
  }
  // a copy: the memory backend keeps the task itself, and the caller may change its Date afterwards
  const scheduledAt = scheduledGiven === undefined ? undefined : new Date(scheduledGiven.getTime());
  // the common push has no key: nothing allocated for it, and two reads more refuse a window without one
  const singleton = input.singletonKey === undefined ? noSingleton(input) : singletonRule(input, now + delayMs);
  // read once: what is validated is what is stored, whatever a getter would answer a second time
  const given = input.params;
  const noParams = given === undefined;
  const params = serializeParams(given, maxPayloadBytes);
  // debounce moves the start: the first push starts as late as any later one would
  const runAtMs = singleton?.mode === 'debounce' ? now + delayMs + singleton.ms : now + delayMs;
  if (into === undefined) {
    return { taskId: taskId ?? newId(), generatedId: taskId === undefined, type, params, noParams, priority, maxRetries, schedulerTaskId, scheduledAt, runAtMs, singleton, traceContext: undefined };
  }
  into.taskId = taskId ?? newId();
  into.generatedId = taskId === undefined;
  into.type = type;
  into.params = params;
  into.noParams = noParams;
  into.priority = priority;
  into.maxRetries = maxRetries;
  into.schedulerTaskId = schedulerTaskId;
  into.scheduledAt = scheduledAt;
  into.runAtMs = runAtMs;
  into.singleton = singleton;
  into.traceContext = undefined;
  return into;
}

/** A push without a key may not name a window: it would be silently ignored. */
function noSingleton(input: PushTaskInput): undefined {
  if (input.debounceMs !== undefined) bad('debounceMs', 'needs singletonKey', input.debounceMs);
  if (input.throttleMs !== undefined) bad('throttleMs', 'needs singletonKey', input.throttleMs);
  return undefined;
}

/** `startMs`: the push's own run time, which a debounce window extends. */
function singletonRule(input: PushTaskInput, startMs: number): SingletonRule {
  const { singletonKey, debounceMs, throttleMs } = input;
  key('singletonKey', singletonKey);
  if (debounceMs !== undefined && throttleMs !== undefined) {
    bad('throttleMs', `cannot be given with debounceMs (${describeValue(debounceMs)})`, throttleMs);
  }
  if (debounceMs !== undefined) return { key: singletonKey!, mode: 'debounce', ms: windowMs('debounceMs', debounceMs, startMs) };
  if (throttleMs !== undefined) return { key: singletonKey!, mode: 'throttle', ms: windowMs('throttleMs', throttleMs) };
  return { key: singletonKey!, mode: 'singleton', ms: 0 };
}

/** A window fits a timer and an INT column: a positive integer up to 2^31-1; a debounce also ends where a Date can. */
function windowMs(field: string, value: unknown, startMs = 0): number {
  if (!isInt32(value) || value <= 0) bad(field, `must be an integer from 1 to ${INT32_MAX}`, value);
  if (startMs + value > MAX_EPOCH_MS) bad(field, `with delayMs must end by ${new Date(MAX_EPOCH_MS).toISOString()}`, value);
  return value;
}

/**
 * popTask's wait in ms: a number (≤ 0: do not wait; Infinity: no limit). NaN or a string was a deadline never
 * reached, and the wait polled every millisecond for ever.
 */
export function popTimeout(timeoutMs: unknown): number {
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs)) {
    throw new InvalidArgumentError('timeoutMs', `timeoutMs must be a number of ms (0 or less: do not wait, Infinity: no limit), got ${describeValue(timeoutMs)}`);
  }
  return Math.max(0, timeoutMs);
}
