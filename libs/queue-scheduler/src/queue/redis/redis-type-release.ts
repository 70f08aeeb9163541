import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { retentionMs } from '../../queue-scheduler.options';
import type { RedisConnection } from './redis-connection';

/** The keys of a BullMQ queue that hold its jobs: while any exists, the type is in use. */
const JOB_SETS = ['wait', 'paused', 'active', 'prioritized', 'delayed', 'completed', 'failed', 'waiting-children', 'repeat'] as const;

/**
 * Releases a type whose BullMQ queue holds no job: deletes the queue's other
 * keys (meta, id, events, markers, …), its entry in our types set and its
 * last push order. One script, so BullMQ's add (a script too) runs wholly
 * before it (the job is there: nothing is released) or wholly after (the add
 * creates what it needs anew): a push is never lost.
 *
 * A push writes our index (types set, last push order) a step before BullMQ
 * adds the job; so the release also asks that the type's last push order be
 * the one the previous pass saw empty. A push indexed meanwhile keeps the type.
 *
 * KEYS: types set, type-pushed hash, then ARGV[3] job-holding keys, then the rest.
 * ARGV: type, last push order the previous pass saw ('' on a first look), count of job-holding keys.
 * Returns 'busy', 'released', or the last push order to pass on to the next pass.
 */
const RELEASE_SCRIPT = `
local sets = tonumber(ARGV[3])
for i = 3, 2 + sets do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 'busy' end
end
local pushed = redis.call('HGET', KEYS[2], ARGV[1]) or 'none'
if pushed ~= ARGV[2] then return pushed end
for i = 3 + sets, #KEYS do redis.call('UNLINK', KEYS[i]) end
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 'released'
`;

type ReleasingRedis = Redis & { qsReleaseType(numKeys: number, ...args: string[]): Promise<string> };

/**
 * Per-type structures of types no longer used would otherwise stay forever:
 * BullMQ removes old finished jobs only when another job of the queue
 * finishes, and never a queue's own keys. Each retention pass removes the
 * finished jobs of every type past `queue.retentionDays`, then releases the
 * types found empty twice in a row (see RELEASE_SCRIPT).
 */
export class RedisTypeRelease {
  /** type → its last push order when this instance last found it empty. */
  private seenEmpty = new Map<string, string>();

  constructor(
    private readonly redis: RedisConnection,
    private readonly retentionDays: number,
  ) {
    redis.client.defineCommand('qsReleaseType', { lua: RELEASE_SCRIPT });
  }

  /** Returns the types released. */
  async pass(): Promise<string[]> {
    // a type this instance handles is in use (its Worker's stalled check writes the meta hash again at once): it is
    // not released here but listed again, so that once no instance handles it, another instance's pass releases it
    const handled = this.redis.handledTypes();
    await this.redis.keys.addTypes(handled);
    const types = await this.redis.keys.types();
    const handledSet = new Set(handled);
    const outcomes = await Promise.allSettled(types.map((type) => this.releaseIfEmpty(type, !handledSet.has(type))));
    const released: string[] = [];
    const seenEmpty = new Map<string, string>();
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'rejected' || outcome.value === 'busy') return;
      if (outcome.value === 'released') released.push(types[i]);
      else seenEmpty.set(types[i], outcome.value);
    });
    this.seenEmpty = seenEmpty;
    // one type's error (Redis away, a key of an unexpected kind) does not hold back the others
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
    return released;
  }

  private async releaseIfEmpty(type: string, releasable: boolean): Promise<string> {
    const queue = this.redis.queueFor(type);
    await this.expireFinished(queue);
    if (!releasable) return 'busy';
    const k = queue.keys;
    const sets = JOB_SETS.map((name) => k[name]);
    const metrics = ['completed', 'failed'].flatMap((s) => [queue.toKey(`metrics:${s}`), queue.toKey(`metrics:${s}:data`)]);
    const rest = [...new Set([...Object.values(k), ...metrics])].filter((key) => !sets.includes(key));
    const { keys } = this.redis.keys;
    const client = this.redis.client as ReleasingRedis;
    return client.qsReleaseType(2 + sets.length + rest.length, keys.types, keys.typePushed, ...sets, ...rest, type, this.seenEmpty.get(type) ?? '', String(sets.length));
  }

  /** BullMQ's own age limit acts only when a later job of the queue finishes: the last ones of an idle type would stay. */
  private async expireFinished(queue: Queue): Promise<void> {
    const graceMs = retentionMs(this.retentionDays);
    if (graceMs <= 0) return;
    const before = `(${Date.now() - graceMs}`;
    const [[, completed], [, failed]] = (await this.redis.client.pipeline().zcount(queue.keys.completed, '-inf', before).zcount(queue.keys.failed, '-inf', before).exec()) as Array<[Error | null, number]>;
    // only where there is something to remove: clean() also writes a 'cleaned' event
    if (completed > 0) await queue.clean(graceMs, completed, 'completed');
    if (failed > 0) await queue.clean(graceMs, failed, 'failed');
  }
}
