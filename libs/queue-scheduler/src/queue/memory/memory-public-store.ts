import { DEFAULT_OPTIONS } from '../../queue-scheduler.constants';
import { type PublicStore, storeExpiry, storeValueJson } from '../../store/public-store';

interface Entry {
  /** As JSON, parsed on each read: a caller changing what it read changes no one else's copy. */
  json: string;
  /** Epoch ms, or Infinity for keys without a TTL. */
  expiresAt: number;
}

/**
 * The in-process key-value store with per-key TTL. Expiry is checked on
 * every read, so the periodic sweep only frees memory and never decides
 * what a caller sees.
 */
export class MemoryPublicStore implements PublicStore {
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
    this.entries.set(key, { json: storeValueJson(value, this.maxValueBytes), expiresAt });
  }

  get<T>(key: string): T | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return null;
    }
    return JSON.parse(entry.json) as T;
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
