import { randomUUID } from 'node:crypto';
import type { RedisConnection } from './redis-connection';

/** Longest an instance holds an id: a lock whose holder died lapses after it. */
const LOCK_MS = 5_000;
/** Longest pause between two looks at a held lock. */
const MAX_PAUSE_MS = 50;
/** Deletes the lock only while it is still the caller's (it may have lapsed and been taken by another instance). */
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/**
 * Runs `work` while this instance holds `taskId`'s lock, which every instance
 * on the prefix shares. A push of a chosen id (take over the finished task,
 * add the new job), deleteTask and the cancel of a task not started are each
 * several commands on one job id: interleaved on two instances, a delete
 * removed the job a push had just added under the same id (the push returned
 * the id with nothing stored), or dropped its index entry (a task no read
 * finds). Pushes of ids made for them never take it.
 */
export async function withIdLock<T>(redis: RedisConnection, taskId: string, work: () => Promise<T>): Promise<T> {
  // no push could make it (a caller's bad value): nothing to guard, and `work` says it is unknown
  if (typeof taskId !== 'string') return work();
  const key = `${redis.keys.keys.prefix}:~lock:${taskId}`;
  const token = randomUUID();
  for (let pause = 1; (await redis.client.set(key, token, 'PX', LOCK_MS, 'NX')) !== 'OK'; pause = Math.min(2 * pause, MAX_PAUSE_MS)) {
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
  try {
    return await work();
  } finally {
    // a release that fails (Redis away) leaves the lock to lapse
    await redis.client.eval(RELEASE, 1, key, token).catch(() => undefined);
  }
}
