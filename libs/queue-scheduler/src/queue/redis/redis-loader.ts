import type * as BullMQ from 'bullmq';
import type IORedis from 'ioredis';
import { MissingPackageError } from '../../errors/errors';
import { requireOptional } from '../../optional-package';

export type BullMQModule = typeof BullMQ;
export type IORedisClass = typeof IORedis;

/**
 * Loads an optional peer dependency of the redis backend. Only this backend
 * calls it, so an app on the memory or database backend never needs (or
 * loads) bullmq and ioredis; a missing one stops start-up naming it.
 */
function load<T>(name: 'bullmq' | 'ioredis'): T {
  const mod = requireOptional<T>(name);
  if (mod) return mod;
  throw new MissingPackageError(name, "queue.backend 'redis'", 'bullmq ioredis');
}

export function loadRedisPackages(): { bullmq: BullMQModule; IORedis: IORedisClass } {
  const bullmq = load<BullMQModule>('bullmq');
  const ioredis = load<{ default: IORedisClass } & IORedisClass>('ioredis');
  return { bullmq, IORedis: ioredis.default ?? ioredis };
}
