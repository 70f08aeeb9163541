import type { Sql } from '../../database/sql';
import { keyProblem } from '../json-value';
import { MAX_KEY_LENGTH } from '../task-validation';
import { type PublicStore, storeExpiry, storeValueJson } from '../../store/public-store';

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
    const upsert = {
      mysql: 'INSERT INTO queue_store (store_key, value, expires_at, updated_at) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value), expires_at = VALUES(expires_at), updated_at = VALUES(updated_at)',
      postgres: 'INSERT INTO queue_store (store_key, value, expires_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (store_key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at',
      sqlite: 'INSERT INTO queue_store (store_key, value, expires_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (store_key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, updated_at = excluded.updated_at',
    }[this.sql.dialect];
    await this.sql.affected(upsert, [key, json, exp, now]);
  }

  async get<T>(key: string): Promise<T | null> {
    // no stored key can hold what a key may not (PostgreSQL would refuse a NUL in the query itself)
    if (keyProblem(key, MAX_KEY_LENGTH)) return null;
    const rows = await this.sql.rows<{ value: string }>(
      `SELECT ${this.sql.json('value')} AS value FROM queue_store WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)`,
      [key, Date.now()],
    );
    return rows.length ? (JSON.parse(rows[0].value) as T) : null;
  }

  async delete(key: string): Promise<boolean> {
    if (keyProblem(key, MAX_KEY_LENGTH)) return false;
    const live = await this.sql.affected('DELETE FROM queue_store WHERE store_key = ? AND (expires_at IS NULL OR expires_at > ?)', [key, Date.now()]);
    if (live === 0) await this.sql.affected('DELETE FROM queue_store WHERE store_key = ?', [key]);
    return live > 0;
  }

  async keys(): Promise<string[]> {
    const rows = await this.sql.rows<{ store_key: string }>(
      'SELECT store_key FROM queue_store WHERE expires_at IS NULL OR expires_at > ? ORDER BY store_key',
      [Date.now()],
    );
    return rows.map((r) => r.store_key);
  }

  async size(): Promise<number> {
    const rows = await this.sql.rows<{ n: string | number }>('SELECT COUNT(*) AS n FROM queue_store WHERE expires_at IS NULL OR expires_at > ?', [Date.now()]);
    return Number(rows[0]?.n ?? 0);
  }

  async clear(): Promise<void> {
    await this.sql.affected('DELETE FROM queue_store');
  }

  cleanup(): Promise<number> {
    return this.sql.affected('DELETE FROM queue_store WHERE expires_at IS NOT NULL AND expires_at <= ?', [Date.now()]);
  }
}
