import { randomBytes } from 'node:crypto';
import IORedis from 'ioredis';

/** The shared Redis the suites use (never restarted by a test; see redis-server.ts for a private one). */
export const REDIS = { host: process.env.REDIS_HOST ?? '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379) };

/** A key prefix of its own for one test file, so parallel suites never see each other's keys. */
export function testPrefix(): string {
  return `qs-test-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Deletes every key under `prefix` (SCAN, not KEYS, on the shared server). */
export async function dropPrefix(prefix: string, connection: { host: string; port: number } = REDIS): Promise<void> {
  const redis = new IORedis({ ...connection, maxRetriesPerRequest: 3 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
