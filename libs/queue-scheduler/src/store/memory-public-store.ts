import { describeValue, InvalidArgumentError } from '../errors/errors';
import { keyProblem, normalizeJson } from '../queue/json-value';
import { MAX_EPOCH_MS, MAX_KEY_LENGTH } from '../queue/task-validation';
import { DEFAULT_OPTIONS } from '../queue-scheduler.constants';

interface Entry {
  value: unknown;
  /** Epoch ms, or Infinity for keys without a TTL. */
  expiresAt: number;
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
  return now + ttlSeconds * 1000;
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

/**
 * The in-process key-value store with per-key TTL. Expiry is checked on
 * every read, so the periodic sweep only frees memory and never decides
 * what a caller sees.
 */
export class MemoryPublicStore {
  private readonly entries = new Map<string, Entry>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly now: () => number = () => Date.now(),
    private readonly maxValueBytes: number = DEFAULT_OPTIONS.store.maxValueBytes,
  ) {}

  set(key: string, value: unknown, ttlSeconds?: number | null): void {
    const now = this.now();
    const expiresAt = storeExpiry(key, ttlSeconds, now);
    // the normalised copy: what the durable stores would give back, and safe from later changes by the caller
    this.entries.set(key, { value: storeValue(value, this.maxValueBytes), expiresAt });
  }

  get<T>(key: string): T | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return null;
    }
    return entry.value as T;
  }

  delete(key: string): boolean {
    const entry = this.entries.get(key);
    this.entries.delete(key);
    return entry !== undefined && entry.expiresAt > this.now();
  }

  keys(): string[] {
    const now = this.now();
    const keys: string[] = [];
    for (const [key, entry] of this.entries) if (entry.expiresAt > now) keys.push(key);
    return keys;
  }

  size(): number {
    return this.keys().length;
  }

  clear(): void {
    this.entries.clear();
  }

  cleanup(): number {
    const now = this.now();
    let removed = 0;
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) {
        this.entries.delete(key);
        removed++;
      }
    }
    return removed;
  }

  /** Runs `sweep` (by default `cleanup`) every interval on an unref'd timer, so it never keeps the process alive. */
  startCleanup(intervalSeconds: number, sweep: () => unknown = () => this.cleanup(), onError?: (err: unknown) => void): void {
    this.stopCleanup();
    this.timer = setInterval(() => {
      try {
        sweep();
      } catch (err) {
        onError?.(err);
      }
    }, intervalSeconds * 1000);
    this.timer.unref();
  }

  stopCleanup(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get cleanupRunning(): boolean {
    return this.timer !== undefined;
  }
}
