import { retentionMs } from '../../queue-scheduler.options';
import type { RedisConnection } from './redis-connection';
import { RedisTypeRelease } from './redis-type-release';

const BATCH = 500;

/**
 * Finished jobs past `queue.retentionDays` are removed (by BullMQ as later
 * jobs of their queue finish, else by RedisTypeRelease); this forgets our
 * index entries for them, and cancelled records past the same age, so the
 * index does not grow without end. Each pass reads one batch, oldest first;
 * the next pass resumes after what it kept. Then it releases the types with
 * nothing left.
 */
export class RedisRetention {
  private from = 0;
  /**
   * Entries whose job was missing on the last pass. A push indexes the id a
   * moment before BullMQ adds the job, so an entry is dropped only when its
   * job is still missing a pass later.
   */
  private suspects = new Set<string>();
  private readonly types: RedisTypeRelease;
  private timer?: NodeJS.Timeout;
  private storeTimer?: NodeJS.Timeout;

  constructor(
    private readonly redis: RedisConnection,
    private readonly retentionDays: number,
  ) {
    this.types = new RedisTypeRelease(redis, retentionDays);
  }

  /**
   * Sweeps every `ms` on an unref'd timer until stop(); a second call keeps the first timer. `store`: the public
   * store's index of keys with a TTL is trimmed on its own interval (store.cleanupIntervalSeconds), as the other
   * backends sweep their expired keys: Redis drops the keys, but that index grew by an entry per TTL'd set.
   */
  every(ms: number, onError: (err: unknown) => void, store?: { everyMs: number; cleanup: () => Promise<number>; onError: (err: unknown) => void }): void {
    this.timer ??= setInterval(() => void this.sweep().catch(onError), ms).unref();
    if (store) this.storeTimer ??= setInterval(() => void store.cleanup().catch(store.onError), store.everyMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.storeTimer);
    this.timer = this.storeTimer = undefined;
  }

  async sweep(): Promise<number> {
    const { keys } = this.redis;
    const entries = await keys.oldest(this.from, BATCH);
    const types = await keys.typesOf(entries.map((e) => e.taskId));
    const keep = retentionMs(this.retentionDays);
    const expiredBefore = keep > 0 ? Date.now() - keep : -Infinity;
    const gone = await Promise.all(
      entries.map(async ({ taskId }, i) => {
        const cancelled = await keys.cancelled(taskId);
        if (cancelled) return (cancelled.completedAt?.getTime() ?? Infinity) < expiredBefore;
        return types[i] === null || (await this.redis.jobStateOf(types[i]!, taskId)) === 'unknown';
      }),
    );
    const suspects = new Set<string>();
    let removed = 0;
    for (const [i, { taskId, seq }] of entries.entries()) {
      if (!gone[i]) continue;
      const key = `${taskId}@${seq}`;
      if (this.suspects.has(key)) removed += await keys.drop(taskId, seq);
      else suspects.add(key);
    }
    this.suspects = suspects;
    this.from = entries.length < BATCH ? 0 : this.from + entries.length - removed;
    await this.types.pass();
    return removed;
  }
}
