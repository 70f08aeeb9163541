/**
 * The redis backend's code that RedisQueueService builds on, loaded by its
 * constructor (see `redisParts` there): an app on another backend never
 * parses it.
 */
export { RedisSingletons } from './redis-singletons';
export { RedisConnection } from './redis-connection';
export { RedisConsumer } from './redis-consumer';
export { redisPausedTypes } from './redis-paused-types';
export { redisPermits } from './redis-permits';
export { RedisCancels } from './redis-cancels';
export { RedisRetention } from './redis-retention';
export { PRIORITY_LIMIT } from './redis-jobs';
export { jobIdOf } from './redis-keys';
export { enqueue, withdraw } from './redis-enqueue';
export { RedisStatus } from './redis-status';
export { RedisFlows } from './redis-flows';
export { endMarkedParent } from './redis-condemn';
