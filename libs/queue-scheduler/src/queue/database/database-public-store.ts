import type { Sql } from '../../database/sql';
import { storableKey } from '../task-validation';
import { type PublicStore, storeExpiry, storeValueJson } from '../../store/public-store';
import { CLEAR_STORE, countLiveKeys, deleteExpired, deleteExpiredKey, deleteLiveKey, liveKeys, selectValue, upsertValue } from './statements/store';

/**
 * The public store as the `queue_store` table, shared by every instance.
 * Expiry is part of every read, so a key is gone the moment its TTL ends;
 * the periodic cleanup only frees rows.
 */
export class DatabasePublicStore implements PublicStore {
  constructor(
    private readonly sql: Sql,
    private readonly maxValueBytes?: number,
  ) {}

  async set(key: string, value: unknown, ttlSeconds?: number | null): Promise<void> {
    const now = Date.now();
    const expiresAt = storeExpiry(key, ttlSeconds, now);
    const json = storeValueJson(value, this.maxValueBytes);
    const exp = expiresAt === Infinity ? null : expiresAt;
    const { text, params } = upsertValue(this.sql.dialect, key, json, exp, now);
    await this.sql.affected(text, params);
  }

  async get<T>(key: string): Promise<T | null> {
    if (!storableKey(key)) return null;
    const { text, params } = selectValue(this.sql, key);
    const rows = await this.sql.rows<{ value: string }>(text, params);
    return rows.length ? (JSON.parse(rows[0].value) as T) : null;
  }

  async delete(key: string): Promise<boolean> {
    if (!storableKey(key)) return false;
    // two statements, one reading of the clock: the second removes only what the first found expired, so a
    // setPublic that lands between them keeps its value (as if it came after this delete, which found nothing live)
    const now = Date.now();
    const live = await this.run(deleteLiveKey(key, now));
    if (live === 0) await this.run(deleteExpiredKey(key, now));
    return live > 0;
  }

  async keys(): Promise<string[]> {
    const { text, params } = liveKeys();
    const rows = await this.sql.rows<{ store_key: string }>(text, params);
    return rows.map((r) => r.store_key);
  }

  async size(): Promise<number> {
    const { text, params } = countLiveKeys();
    const rows = await this.sql.rows<{ n: string | number }>(text, params);
    return Number(rows[0]?.n ?? 0);
  }

  async clear(): Promise<void> {
    await this.sql.affected(CLEAR_STORE);
  }

  cleanup(): Promise<number> {
    return this.run(deleteExpired());
  }

  private run({ text, params }: { text: string; params: unknown[] }): Promise<number> {
    return this.sql.affected(text, params);
  }
}
