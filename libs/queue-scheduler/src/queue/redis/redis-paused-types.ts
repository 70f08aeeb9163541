import type { PausedTypesStore } from '../durable-queue';
import type { RedisConnection } from './redis-connection';
import { RedisKeys } from './redis-keys';

/** The paused types of the Redis backend: one set under the app's prefix, shared by every instance on that Redis. */
export function redisPausedTypes(redis: () => RedisConnection, prefix: string): PausedTypesStore {
  const key = new RedisKeys(prefix).pausedTypes;
  return {
    load: () => redis().client.smembers(key),
    pause: async (type) => {
      await redis().client.sadd(key, type);
    },
    resume: async (type) => {
      await redis().client.srem(key, type);
    },
  };
}
