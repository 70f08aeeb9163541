import { describeValue, InvalidArgumentError } from '../errors/errors';
import type { MaybePromise } from '../interfaces/task.interface';
import { DEFAULT_OPTIONS } from '../queue-scheduler.constants';
import { keyProblem, normalizeJson } from '../queue/json-value';
import { MAX_EPOCH_MS, MAX_KEY_LENGTH } from '../queue/task-validation';

/**
 * The public key-value store of one backend (in process, the database's
 * `store_entry` table, Redis keys). Every store runs the same checks (below)
 * before it writes, so a key or value one refuses every one refuses.
 * `TaskQueue` exposes it as the seed's `setPublic`/`getPublic`/… methods.
 */
export interface PublicStore {
  set(key: string, value: unknown, ttlSeconds?: number | null): MaybePromise<void>;
  get<T>(key: string): MaybePromise<T | null>;
  /** false when the key did not exist (or had expired). */
  delete(key: string): MaybePromise<boolean>;
  /** Keys not expired. */
  keys(): MaybePromise<string[]>;
  size(): MaybePromise<number>;
  clear(): MaybePromise<void>;
  /** Removes expired keys now and returns how many. */
  cleanup(): MaybePromise<number>;
}

/** Checks a store key and TTL; shared by every store backend. Returns the expiry as epoch ms (Infinity: none). */
export function storeExpiry(key: unknown, ttlSeconds: number | null | undefined, now: number): number {
  const problem = keyProblem(key, MAX_KEY_LENGTH);
  if (problem) throw new InvalidArgumentError('key', `key ${problem}, got ${describeValue(key)}`);
  if (ttlSeconds === undefined || ttlSeconds === null) return Infinity;
  if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new InvalidArgumentError('ttlSeconds', `ttlSeconds must be a positive number of seconds, got ${describeValue(ttlSeconds)}`);
  }
  // an expiry past the last representable Date can be neither stored (expires_at BIGINT) nor compared
  if (now + ttlSeconds * 1000 > MAX_EPOCH_MS) {
    throw new InvalidArgumentError('ttlSeconds', `ttlSeconds must end by ${new Date(MAX_EPOCH_MS).toISOString()} (omit it for no expiry), got ${describeValue(ttlSeconds)}`);
  }
  // whole ms, never earlier than asked: the databases keep expiries in integer columns (PostgreSQL refuses a fraction).
  // A TTL under the float step at `now` (~0.1 µs) adds nothing to it: such a key still lives its first millisecond.
  const at = Math.ceil(now + ttlSeconds * 1000);
  return at > now ? at : Math.floor(now) + 1;
}

const refuseValue = (field: string, message: string): Error => new InvalidArgumentError(field, message);

/**
 * A value as every store keeps it: normalised like task params (see
 * normalizeJson), within store.maxValueBytes; InvalidArgumentError naming the
 * path otherwise, and nothing is written.
 */
export function storeValue(value: unknown, maxBytes: number = DEFAULT_OPTIONS.store.maxValueBytes): unknown {
  return normalizeJson(value, 'value', maxBytes, 'store.maxValueBytes', refuseValue);
}

/** A stored value as JSON, for the store backends that keep text. */
export function storeValueJson(value: unknown, maxBytes?: number): string {
  return JSON.stringify(storeValue(value, maxBytes));
}

