import type { Dialect, Sql } from '../../../database/sql';
import type { Statement } from './statement';

/** A live key: one with no expiry or one not reached at `now` (the second parameter). */
const LIVE = '(expires_at IS NULL OR expires_at > ?)';

const UPSERT: Record<Dialect, string> = {
  mysql: 'INSERT INTO queue_store (store_key, value, expires_at, updated_at) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value), expires_at = VALUES(expires_at), updated_at = VALUES(updated_at)',
  postgres: 'INSERT INTO queue_store (store_key, value, expires_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (store_key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at',
  sqlite: 'INSERT INTO queue_store (store_key, value, expires_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (store_key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, updated_at = excluded.updated_at',
};

/** Sets a key's value and expiry, whether the key exists or not. */
export function upsertValue(dialect: Dialect, key: string, json: string, expiresAt: number | null, now: number): Statement {
  return { text: UPSERT[dialect], params: [key, json, expiresAt, now] };
}

/** A live key's value, as JSON text. */
export function selectValue(sql: Sql, key: string): Statement {
  return { text: `SELECT ${sql.json('value')} AS value FROM queue_store WHERE store_key = ? AND ${LIVE}`, params: [key, Date.now()] };
}

/** Deletes a key if it is live at `now` (the count says whether a value was there to delete). */
export function deleteLiveKey(key: string, now: number): Statement {
  return { text: `DELETE FROM queue_store WHERE store_key = ? AND ${LIVE}`, params: [key, now] };
}

/**
 * Deletes a key's row if it had expired by `now` (one the cleanup has not reached yet), and only then:
 * a value set since the live delete found nothing is live, and is not this delete's to remove.
 */
export function deleteExpiredKey(key: string, now: number): Statement {
  return { text: 'DELETE FROM queue_store WHERE store_key = ? AND expires_at IS NOT NULL AND expires_at <= ?', params: [key, now] };
}

/** The live keys, sorted. */
export function liveKeys(): Statement {
  return { text: 'SELECT store_key FROM queue_store WHERE expires_at IS NULL OR expires_at > ? ORDER BY store_key', params: [Date.now()] };
}

/** How many keys are live. */
export function countLiveKeys(): Statement {
  return { text: 'SELECT COUNT(*) AS n FROM queue_store WHERE expires_at IS NULL OR expires_at > ?', params: [Date.now()] };
}

/** Deletes every key. */
export const CLEAR_STORE = 'DELETE FROM queue_store';

/** Frees the rows of expired keys (reads already ignore them). */
export function deleteExpired(): Statement {
  return { text: 'DELETE FROM queue_store WHERE expires_at IS NOT NULL AND expires_at <= ?', params: [Date.now()] };
}
