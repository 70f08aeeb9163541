import type { Job } from 'bullmq';
import type { RedisConnection } from './redis-connection';

/**
 * KEYS[1] a type's active list; ARGV: its job key prefix, a lock token, the finished job's id. The id
 * of another active job locked under that token: a token is used by one fetch alone (RedisConsumer.nextToken),
 * and the active list is as long as the workers running the type.
 */
const LOCKED_UNDER = `
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if id ~= ARGV[3] and redis.call('GET', ARGV[1] .. id .. ':lock') == ARGV[2] then return id end
end
return false`;

/**
 * A completion (moveToCompleted, fetching the next job along) that failed for a lock its task no longer
 * holds. ioredis sends a call that got no reply again after a reconnect, so the first send may have run:
 * the task is finished, and the next job is active under the completion's token, known to no worker. Left
 * so, BullMQ's stalled check gave it back only after the lease, counted as a lost try (dead without a run
 * under `maxLostTries: 0`), and the finished task was reported as a lost lease.
 *
 * Returns the job the first send fetched (to run here now), undefined when it ran and fetched none (the
 * task finished with no other start since this try's), or false when it did not run: the lease was lost.
 */
export async function firstSendRan(redis: RedisConnection, type: string, job: Job, token: string): Promise<Job | undefined | false> {
  const fetched = await lockedUnder(redis, type, token, job.id);
  if (fetched) return fetched;
  const now = await redis.jobById(type, job.id!, token);
  return now !== undefined && now.attemptsStarted === job.attemptsStarted && (await now.isCompleted()) ? undefined : false;
}

/**
 * The job of `type` active under `token` other than `except`, read back to be held here. After a claim
 * (moveToActive) during which the connection dropped: ioredis sent it again, and when its first send had
 * run, the job that send took waits under the same token, known to no worker (see firstSendRan).
 */
export async function lockedUnder(redis: RedisConnection, type: string, token: string, except: string | undefined): Promise<Job | undefined> {
  const worker = redis.workerFor(type);
  try {
    const id = (await redis.client.eval(LOCKED_UNDER, 1, worker.keys.active, worker.toKey(''), token, except ?? '')) as string | null;
    return id ? await redis.jobById(type, id, token) : undefined;
  } catch {
    // the connection dropped again: such a job is left to the stalled check, as before this look
    return undefined;
  }
}
