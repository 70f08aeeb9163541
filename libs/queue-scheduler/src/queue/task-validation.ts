import { randomUUID } from 'node:crypto';
import { describeValue, InvalidTaskError } from '../errors/errors';
import type { PushTaskInput } from '../interfaces/task.interface';

/** A push after validation: every field present, ready to be queued or inserted. */
export interface NormalizedTask {
  taskId: string;
  /** The id was made for this push (no taskId given): no task can have it yet. */
  generatedId: boolean;
  type: string;
  params: unknown;
  /** `params` as JSON, for backends that store it and for the size limit. */
  json: string;
  priority: number;
  runAt: Date;
  maxRetries?: number;
  schedulerTaskId?: string;
  scheduledAt?: Date;
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

/**
 * Serialises params once, refusing what JSON would silently drop or cannot
 * represent, so a task never reaches its handler different from how it was
 * pushed. The check walks the value itself and then lets the native
 * JSON.stringify run without a replacer: a replacer is a JS call from C++
 * per value, which made validation a fifth of the cost of a push.
 */
export function serializeParams(params: unknown, maxBytes: number): string {
  if (params === undefined) return '{}';
  checkSerializable(params, '', [], []);
  let json: string | undefined;
  try {
    json = JSON.stringify(params);
  } catch (err) {
    // a toJSON that throws, or a getter that does
    bad('params', `must be JSON-serializable (${(err as Error).message})`, params);
  }
  if (json === undefined) bad('params', 'must be JSON-serializable', params);
  // UTF-8 takes at most 3 bytes per UTF-16 unit: most payloads need no count
  if (json.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(json);
    if (bytes > maxBytes) throw new InvalidTaskError('params', `params is ${bytes} bytes as JSON, more than queue.maxPayloadBytes (${maxBytes})`);
  }
  return json;
}

const pathOf = (keys: string[]): string => ['params', ...keys].join('.');

/**
 * Throws InvalidTaskError naming the path of the first value JSON would drop
 * or cannot represent. `keys` and `ancestors` are the current path's keys
 * and objects; the path string is built only for an error.
 */
function checkSerializable(raw: unknown, key: string, keys: string[], ancestors: object[]): void {
  let value = raw;
  // what JSON.stringify serialises is what toJSON returns (a Date becomes its ISO string)
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON(key: string): unknown }).toJSON(key);
  }
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
      return;
    case 'function':
      return bad(pathOf(keys), 'must be JSON-serializable (a function is not)', value);
    case 'symbol':
      return bad(pathOf(keys), 'must be JSON-serializable (a symbol is not)', value.toString());
    case 'bigint':
      return bad(pathOf(keys), 'must be JSON-serializable (a BigInt is not)', value);
  }
  if (value === null) return;
  if (value instanceof Map || value instanceof Set) bad(pathOf(keys), 'must be JSON-serializable (use a plain object or array)', value);
  const object = value as Record<string, unknown>;
  // an object met again on its own path is a cycle; met again elsewhere it is only shared, which JSON allows
  if (ancestors.includes(object)) bad(pathOf(keys), 'must be JSON-serializable (it contains a circular reference)', '[Circular]');
  ancestors.push(object);
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      keys.push(String(i));
      checkSerializable(object[i], keys[keys.length - 1], keys, ancestors);
      keys.pop();
    }
  } else {
    for (const k of Object.keys(object)) {
      keys.push(k);
      checkSerializable(object[k], k, keys, ancestors);
      keys.pop();
    }
  }
  ancestors.pop();
}

/** Validates a push and fills its defaults; throws InvalidTaskError naming the field. */
export function normalizePush(input: PushTaskInput, maxPayloadBytes: number, now = Date.now(), newId: () => string = randomUUID): NormalizedTask {
  if (input === null || typeof input !== 'object') bad('task', 'must be an object', input);
  const { taskId, type, priority = 0, delayMs = 0, maxRetries, schedulerTaskId, scheduledAt } = input;
  if (typeof type !== 'string' || type.trim() === '' || type.length > 191) bad('type', 'must be a non-empty string of at most 191 characters', type);
  if (taskId !== undefined && (typeof taskId !== 'string' || taskId === '' || taskId.length > 191)) {
    bad('taskId', 'must be a non-empty string of at most 191 characters', taskId);
  }
  if (!isInt32(priority)) bad('priority', `must be an integer from ${INT32_MIN} to ${INT32_MAX}`, priority);
  // beyond the last representable Date the run time would be Invalid Date: never due, and refused by the database
  if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0 || now + delayMs > MAX_EPOCH_MS) {
    bad('delayMs', `must be a finite number >= 0 that ends by ${new Date(MAX_EPOCH_MS).toISOString()}`, delayMs);
  }
  if (maxRetries !== undefined && (!isInt32(maxRetries) || maxRetries < 0)) {
    bad('maxRetries', `must be an integer from 0 to ${INT32_MAX}`, maxRetries);
  }
  if (scheduledAt !== undefined && !(scheduledAt instanceof Date && Number.isFinite(scheduledAt.getTime()))) {
    bad('scheduledAt', 'must be a valid Date', scheduledAt);
  }
  const json = serializeParams(input.params, maxPayloadBytes);
  return {
    taskId: taskId ?? newId(),
    generatedId: taskId === undefined,
    type,
    params: input.params ?? {},
    json,
    priority,
    runAt: new Date(now + delayMs),
    maxRetries,
    schedulerTaskId,
    scheduledAt,
  };
}
