import type { Redis } from 'ioredis';
import type { TaskRecord } from '../../interfaces/task.interface';
import type { RedisKeys } from './redis-keys';
import { storableKey } from '../task-validation';

/**
 * Records the task's type (which BullMQ queue holds it) and its push order
 * in one atomic step, unless the id is already known and `force` is off;
 * returns the type it had before, or nil. The type's last push order is what
 * a release of the type checks (see RedisTypeRelease).
 */
const INDEX_SCRIPT = `
local previous = redis.call('HGET', KEYS[1], ARGV[1])
if previous and ARGV[3] ~= '1' then return previous end
local seq = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[5], ARGV[2], seq)
return previous
`;

/** INDEX_SCRIPT for every task of a flow at once (ARGV: taskId, type, links JSON, …), with each task's links. */
const INDEX_FLOW_SCRIPT = `
local n = #ARGV / 3
local seq = redis.call('INCRBY', KEYS[4], n) - n
for i = 1, #ARGV, 3 do
  seq = seq + 1
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], seq, ARGV[i])
  redis.call('SADD', KEYS[3], ARGV[i + 1])
  redis.call('HSET', KEYS[5], ARGV[i + 1], seq)
  redis.call('HSET', KEYS[6], ARGV[i], ARGV[i + 2])
end
return n
`;

/** Forgets an id, but only the entry that was read: a re-push since gave it a new push order. */
const DROP_SCRIPT = `
if redis.call('ZSCORE', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
`;

type IndexingRedis = Redis & {
  qsIndex(k1: string, k2: string, k3: string, k4: string, k5: string, id: string, type: string, force: string): Promise<string | null>;
  qsDrop(k1: string, k2: string, k3: string, k4: string, id: string, seq: string): Promise<number>;
  qsIndexFlow(k1: string, k2: string, k3: string, k4: string, k5: string, k6: string, ...args: string[]): Promise<number>;
};

/** Our bookkeeping beside BullMQ's jobs: id → type, push order, retry waits, cancelled records. */
export class RedisIndex {
  private readonly redis: IndexingRedis;

  constructor(
    redis: Redis,
    readonly keys: RedisKeys,
  ) {
    redis.defineCommand('qsIndex', { numberOfKeys: 5, lua: INDEX_SCRIPT });
    redis.defineCommand('qsDrop', { numberOfKeys: 4, lua: DROP_SCRIPT });
    redis.defineCommand('qsIndexFlow', { numberOfKeys: 6, lua: INDEX_FLOW_SCRIPT });
    this.redis = redis as IndexingRedis;
  }

  index(taskId: string, type: string, force: boolean): Promise<string | null> {
    const k = this.keys;
    return this.redis.qsIndex(k.index, k.order, k.types, k.seq, k.typePushed, taskId, type, force ? '1' : '0');
  }

  /** Indexes a flow's tasks in one step (`[taskId, type, links JSON]` each), parents first. */
  async indexFlow(nodes: Array<[string, string, string]>): Promise<void> {
    const k = this.keys;
    await this.redis.qsIndexFlow(k.index, k.order, k.types, k.seq, k.typePushed, k.flows, ...nodes.flat());
  }

  /** The links of flow tasks (JSON, null for a task in no flow). */
  flowLinks(taskIds: string[]): Promise<Array<string | null>> {
    // '' is no task's id (a push refuses it): what an id can never be reads as no link, not another task's
    return taskIds.length ? this.redis.hmget(this.keys.flows, ...taskIds.map((id) => (storableKey(id) ? id : ''))) : Promise.resolve([]);
  }

  typeOf(taskId: string): Promise<string | null> {
    return storableKey(taskId) ? this.redis.hget(this.keys.index, taskId) : Promise.resolve(null);
  }

  typesOf(taskIds: string[]): Promise<Array<string | null>> {
    return taskIds.length ? this.redis.hmget(this.keys.index, ...taskIds) : Promise.resolve([]);
  }

  types(): Promise<string[]> {
    return this.redis.smembers(this.keys.types);
  }

  async addTypes(types: string[]): Promise<void> {
    if (types.length) await this.redis.sadd(this.keys.types, ...types);
  }

  /** Task ids by push order, newest first, below `before` (exclusive). */
  async newest(before: number | undefined, count: number): Promise<Array<{ taskId: string; seq: number }>> {
    const raw = await this.redis.zrevrangebyscore(this.keys.order, before === undefined ? '+inf' : `(${before}`, '-inf', 'WITHSCORES', 'LIMIT', 0, count);
    const out: Array<{ taskId: string; seq: number }> = [];
    for (let i = 0; i < raw.length; i += 2) out.push({ taskId: raw[i], seq: Number(raw[i + 1]) });
    return out;
  }

  /** Entries by push order, oldest first, from rank `from`; seq as Redis prints it. */
  async oldest(from: number, count: number): Promise<Array<{ taskId: string; seq: string }>> {
    const raw = await this.redis.zrange(this.keys.order, from, from + count - 1, 'WITHSCORES');
    const out: Array<{ taskId: string; seq: string }> = [];
    for (let i = 0; i < raw.length; i += 2) out.push({ taskId: raw[i], seq: raw[i + 1] });
    return out;
  }

  /** The push order of `taskId` as Redis prints it (what `drop` compares); null when it is not indexed. */
  seqOf(taskId: string): Promise<string | null> {
    return this.redis.zscore(this.keys.order, taskId);
  }

  drop(taskId: string, seq: string): Promise<number> {
    return this.redis.qsDrop(this.keys.index, this.keys.order, this.keys.cancelled, this.keys.flows, taskId, seq);
  }

  /** Marks `taskId` as schedule `scheduleId`'s latest run (see RedisQueueService.hasUnfinishedRun). */
  async noteRun(scheduleId: string, taskId: string): Promise<void> {
    await this.redis.hset(this.keys.scheduleRuns, scheduleId, taskId);
  }

  lastRunOf(scheduleId: string): Promise<string | null> {
    return this.redis.hget(this.keys.scheduleRuns, scheduleId);
  }

  async markRetry(taskId: string): Promise<void> {
    await this.redis.sadd(this.keys.retrying, taskId);
  }

  async forgetRetry(taskId: string): Promise<void> {
    await this.redis.srem(this.keys.retrying, taskId);
  }

  retryingCount(): Promise<number> {
    return this.redis.scard(this.keys.retrying);
  }

  async isCancelled(taskId: string): Promise<boolean> {
    return storableKey(taskId) && (await this.redis.hexists(this.keys.cancelled, taskId)) === 1;
  }

  async markCancelled(record: TaskRecord): Promise<void> {
    await this.redis.multi().hset(this.keys.cancelled, record.taskId, JSON.stringify(record)).srem(this.keys.retrying, record.taskId).exec();
  }

  async cancelled(taskId: string): Promise<TaskRecord | undefined> {
    const json = storableKey(taskId) ? await this.redis.hget(this.keys.cancelled, taskId) : null;
    return json === null ? undefined : reviveRecord(json);
  }

  async cancelledAll(): Promise<TaskRecord[]> {
    return Object.values(await this.redis.hgetall(this.keys.cancelled)).map(reviveRecord);
  }

  cancelledCount(): Promise<number> {
    return this.redis.hlen(this.keys.cancelled);
  }

  /** Before an id is queued anew: it is no longer cancelled nor waiting for a retry. */
  async forget(taskId: string): Promise<void> {
    await this.redis.multi().hdel(this.keys.cancelled, taskId).srem(this.keys.retrying, taskId).exec();
  }
}

function reviveRecord(json: string): TaskRecord {
  const r = JSON.parse(json) as TaskRecord & Record<string, unknown>;
  for (const field of ['runAt', 'createdAt', 'startedAt', 'completedAt', 'scheduledAt'] as const) {
    if (typeof r[field] === 'string') (r as Record<string, unknown>)[field] = new Date(r[field] as string);
  }
  for (const t of r.tries ?? []) {
    if (typeof t.startedAt === 'string') t.startedAt = new Date(t.startedAt);
    if (typeof t.finishedAt === 'string') t.finishedAt = new Date(t.finishedAt);
  }
  return r;
}
