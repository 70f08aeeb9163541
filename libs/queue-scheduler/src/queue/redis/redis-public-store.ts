import type { Redis } from 'ioredis';
import { type PublicStore, storeExpiry, storeValueJson } from '../../store/public-store';
import type { RedisKeys } from './redis-keys';
import { storableKey } from '../task-validation';

const SCAN_COUNT = 500;

/**
 * The public store as plain Redis strings, shared by every instance:
 * `SET key value PX ttl`, so Redis itself hides a key the moment it expires.
 * A sorted set of the keys with a TTL lets `cleanup()` report how many
 * expired, as the other backends do.
 */
export class RedisPublicStore implements PublicStore {
  constructor(
    private readonly redis: Redis,
    private readonly names: RedisKeys,
    private readonly maxValueBytes?: number,
  ) {}

  async set(key: string, value: unknown, ttlSeconds?: number | null): Promise<void> {
    const now = Date.now();
    const expiresAt = storeExpiry(key, ttlSeconds, now);
    const json = storeValueJson(value, this.maxValueBytes);
    const multi = this.redis.multi();
    if (expiresAt === Infinity) {
      multi.set(this.names.store(key), json).zrem(this.names.storeExpiry, key);
    } else {
      multi.set(this.names.store(key), json, 'PX', Math.max(1, Math.round(expiresAt - now))).zadd(this.names.storeExpiry, expiresAt, key);
    }
    await multi.exec();
  }

  async get<T>(key: string): Promise<T | null> {
    if (!storableKey(key)) return null;
    const json = await this.redis.get(this.names.store(key));
    return json === null ? null : (JSON.parse(json) as T);
  }

  async delete(key: string): Promise<boolean> {
    if (!storableKey(key)) return false;
    const [[, removed]] = (await this.redis.multi().del(this.names.store(key)).zrem(this.names.storeExpiry, key).exec()) as [[Error | null, number]];
    return removed > 0;
  }

  /** Live keys, sorted; SCAN rather than KEYS, so a large Redis is never blocked. */
  async keys(): Promise<string[]> {
    const found = new Set<string>();
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', `${this.names.storePrefix}*`, 'COUNT', SCAN_COUNT);
      for (const k of batch) found.add(k.slice(this.names.storePrefix.length));
      cursor = next;
    } while (cursor !== '0');
    return [...found].sort();
  }

  async size(): Promise<number> {
    return (await this.keys()).length;
  }

  async clear(): Promise<void> {
    const keys = await this.keys();
    for (let i = 0; i < keys.length; i += SCAN_COUNT) {
      await this.redis.unlink(...keys.slice(i, i + SCAN_COUNT).map((k) => this.names.store(k)));
    }
    await this.redis.unlink(this.names.storeExpiry);
  }

  /** Redis has already dropped the expired keys (PX); this forgets them and says how many there were. */
  async cleanup(): Promise<number> {
    const now = Date.now();
    const [[, expired]] = (await this.redis
      .multi()
      .zrangebyscore(this.names.storeExpiry, '-inf', now)
      .zremrangebyscore(this.names.storeExpiry, '-inf', now)
      .exec()) as [[Error | null, string[]]];
    return expired.length;
  }
}
