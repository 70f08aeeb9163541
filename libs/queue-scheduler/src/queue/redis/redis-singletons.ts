import type { Redis } from 'ioredis';
import type { SingletonRule } from '../task-validation';

/**
 * Lua shared by both scripts. A job not yet started is one BullMQ keeps in
 * its queue's `delayed` or `prioritized` set (every job of ours has a
 * priority, so none sits in `wait`) with no try made (`atm`) and no retry
 * pending: a running, retrying, finished or removed job holds no key.
 * `schedule` moves a pending job to `delayed` at its run time; a debounce
 * also rewrites the job's data (params and runAt, the other fields kept as
 * they were). Scored
 * as BullMQ scores delayed jobs (ms * 0x1000), with the queue's delay
 * marker set as BullMQ's changeDelay sets it. Numbers are spliced as text:
 * cjson would round params to 14 digits.
 */
const COMMON = `
local function pendingState(queue, job, taskId, retrying)
  if redis.call('SISMEMBER', retrying, taskId) == 1 then return false end
  local atm = redis.call('HGET', queue .. ':' .. job, 'atm')
  if atm and atm ~= '0' then return false end
  if redis.call('ZSCORE', queue .. ':delayed', job) then return 'delayed' end
  if redis.call('ZSCORE', queue .. ':prioritized', job) then return 'prioritized' end
  return false
end

local function int(v) return string.format('%.0f', v) end

local function schedule(queue, job, state, runAt)
  local jobKey = queue .. ':' .. job
  local at = tonumber(runAt)
  redis.call('HSET', jobKey, 'delay', int(math.max(0, at - (tonumber(redis.call('HGET', jobKey, 'timestamp')) or at))))
  if state == 'prioritized' then redis.call('ZREM', queue .. ':prioritized', job) end
  redis.call('ZADD', queue .. ':delayed', at * 4096, job)
  local first = redis.call('ZRANGE', queue .. ':delayed', 0, 0, 'WITHSCORES')
  if first[2] then redis.call('ZADD', queue .. ':marker', math.floor(tonumber(first[2]) / 4096), '1') end
end

local function debounce(queue, job, state, params, runAt)
  local jobKey = queue .. ':' .. job
  local fields = redis.call('HMGET', jobKey, 'data', 'timestamp')
  if not fields[1] then return end
  local old = cjson.decode(fields[1])
  local parts = { '{"taskId":', cjson.encode(old.taskId), ',"params":', params, ',"priority":', int(old.priority) }
  if type(old.maxRetries) == 'number' then parts[#parts + 1] = ',"maxRetries":' .. int(old.maxRetries) end
  if type(old.schedulerTaskId) == 'string' then parts[#parts + 1] = ',"schedulerTaskId":' .. cjson.encode(old.schedulerTaskId) end
  if type(old.scheduledAt) == 'number' then parts[#parts + 1] = ',"scheduledAt":' .. int(old.scheduledAt) end
  if type(old.singletonKey) == 'string' then parts[#parts + 1] = ',"singletonKey":' .. cjson.encode(old.singletonKey) end
  parts[#parts + 1] = ',"runAt":' .. runAt .. '}'
  redis.call('HSET', jobKey, 'data', table.concat(parts))
  schedule(queue, job, state, runAt)
end
`;

/**
 * The key's rule, decided in one step. Slot hash fields: id (task), queue
 * (its BullMQ queue's key prefix), job (its job id), at (ms the push was
 * accepted), added ('0' while the accepted push is still adding its job).
 * Returns the id that stands for the push, nil when it is accepted (the
 * previous holder is kept in p* fields for `ADDED` to put back if nothing
 * was queued), or { 'wait', id } while the push that reserved the key for
 * `id` has not added its job yet: the caller asks again, so no push is
 * answered with an id no task has, and a debounce folds its params into a
 * job that exists and has not started (a due job a worker takes first is no
 * longer pending: the push is then accepted). ARGV[10]: the id the caller
 * has waited on for long enough (its push died before adding its job): that
 * reservation, and only that one, is taken over. A reservation older than
 * ARGV[9] ms whose push never reported back holds nothing.
 * KEYS: slot, retrying set. ARGV: mode, ms, now, taskId, queue, job, params, runAt, reserveMs, takeOver.
 */
const RESERVE = `${COMMON}
local slot = redis.call('HMGET', KEYS[1], 'id', 'queue', 'job', 'at', 'added')
local id, at, added = slot[1], tonumber(slot[4]), slot[5]
local now = tonumber(ARGV[3])
local function accept()
  redis.call('HSET', KEYS[1], 'id', ARGV[4], 'queue', ARGV[5], 'job', ARGV[6], 'at', ARGV[3], 'added', '0',
    'pid', id or '', 'pqueue', slot[2] or '', 'pjob', slot[3] or '', 'pat', slot[4] or '', 'padded', added or '')
  return false
end
if not id then return accept() end
if added == '0' and redis.call('EXISTS', slot[2] .. ':' .. slot[3]) == 0 then
  -- past reserveMs the push is dead however long ago: a throttle's window must not keep answering with its id
  if ARGV[10] == id or now >= at + tonumber(ARGV[9]) then return accept() end
  return { 'wait', id }
end
if ARGV[1] == 'throttle' then
  if now < at + tonumber(ARGV[2]) then return id end
  return accept()
end
local state = pendingState(slot[2], slot[3], id, KEYS[2])
if not state then return accept() end
if ARGV[1] == 'debounce' then debounce(slot[2], slot[3], state, ARGV[7], ARGV[8]) end
return id
`;

/**
 * The accepted push reports back. Queued: its job exists. Not queued (its
 * taskId was pending or running, or the add failed): the key goes back to
 * its previous holder. When the key is no longer this push's (it stalled
 * past ADD_WAIT_MS and another push took the key over), returns { holder,
 * '1' } after taking its job out of BullMQ's pending sets, in this step, if
 * no worker has taken it yet (the caller then removes the job), else
 * { holder, '0' }: a job that ran or runs is kept.
 * KEYS: slot, retrying set. ARGV: taskId, queued ('1' / '0'), queue, job.
 */
const ADDED = `${COMMON}
local holder = redis.call('HGET', KEYS[1], 'id')
if holder ~= ARGV[1] then
  if not holder or ARGV[2] ~= '1' then return 0 end
  local state = pendingState(ARGV[3], ARGV[4], ARGV[1], KEYS[2])
  if not state then return { holder, '0' } end
  redis.call('ZREM', ARGV[3] .. ':' .. state, ARGV[4])
  return { holder, '1' }
end
if ARGV[2] ~= '1' then
  local p = redis.call('HMGET', KEYS[1], 'pid', 'pqueue', 'pjob', 'pat', 'padded')
  if not p[1] or p[1] == '' then redis.call('DEL', KEYS[1]) return 0 end
  redis.call('HSET', KEYS[1], 'id', p[1], 'queue', p[2], 'job', p[3], 'at', p[4], 'added', p[5])
  return 0
end
redis.call('HSET', KEYS[1], 'added', '1')
return 1
`;

/** How long an accepted push may take to add its job before its reservation of the key lapses. */
const RESERVE_MS = 30_000;
/**
 * How long a push meeting a key whose job is still being added asks again
 * before it takes the key: the add takes a round trip or two, so this long
 * means the push that reserved it died before adding its job.
 */
const ADD_WAIT_MS = 2000;
const ASK_AGAIN_MS = 5;

type SingletonRedis = Redis & {
  qsSingletonReserve(slot: string, retrying: string, ...args: string[]): Promise<string | ['wait', string] | null>;
  qsSingletonAdded(slot: string, retrying: string, taskId: string, queued: string, queue: string, job: string): Promise<number | [string, string]>;
};

/** Where the accepted task will live: its BullMQ queue's key prefix and its job id. */
export interface JobPlace {
  readonly queue: string;
  readonly job: string;
}

/**
 * Singleton keys on Redis: a hash per key (`<prefix>:~singleton:<key>`),
 * read and written only by the two scripts above, so a key is decided
 * atomically on the server whichever instance pushes. Keys are binary-safe
 * in Redis: compared byte for byte.
 */
export class RedisSingletons {
  private readonly redis: SingletonRedis;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly retrying: string,
  ) {
    redis.defineCommand('qsSingletonReserve', { numberOfKeys: 2, lua: RESERVE });
    redis.defineCommand('qsSingletonAdded', { numberOfKeys: 2, lua: ADDED });
    this.redis = redis as SingletonRedis;
  }

  /**
   * A push under `rule`: the key's script decides; an accepted push adds its job (`add`: whether it was queued), then
   * reports whether it did, so the key is taken only by a queued task. `standing`: the task the push was folded into or
   * dropped for. `withdraw`: removes the job `add` queued, once ADDED has taken it out of the pending sets.
   */
  async push(
    rule: SingletonRule,
    task: { taskId: string; params: unknown; runAtMs: number },
    place: JobPlace,
    add: () => Promise<boolean>,
    withdraw: () => Promise<void>,
  ): Promise<{ standing?: string; queued: boolean }> {
    let standing = await this.reserve(rule, task, place, '');
    // waited on per reservation: a push that takes over a dead one reserves the key afresh, and is waited on in turn
    for (let waitingOn = '', until = 0; Array.isArray(standing); ) {
      if (standing[1] !== waitingOn) [waitingOn, until] = [standing[1], Date.now() + ADD_WAIT_MS];
      await new Promise((resolve) => setTimeout(resolve, ASK_AGAIN_MS));
      standing = await this.reserve(rule, task, place, Date.now() >= until ? waitingOn : '');
    }
    if (standing !== null) return { standing, queued: false };
    let queued = false;
    let reply: number | [string, string] = 0;
    try {
      queued = await add();
    } finally {
      reply = await this.redis.qsSingletonAdded(this.slot(rule.key), this.retrying, task.taskId, queued ? '1' : '0', place.queue, place.job);
    }
    // stalled past ADD_WAIT_MS, taken for dead, and the key taken over: this push's job, not started, would be a second task
    if (Array.isArray(reply) && reply[1] === '1') {
      await withdraw();
      return { standing: reply[0], queued: false };
    }
    return { queued };
  }

  /** The id standing for a push of `task` under `rule`, null when the push is accepted, ['wait', id] to ask again (see RESERVE). */
  private reserve(rule: SingletonRule, task: { taskId: string; params: unknown; runAtMs: number }, place: JobPlace, takeOver: string): Promise<string | ['wait', string] | null> {
    const args = [rule.mode, String(rule.ms), String(Date.now()), task.taskId, place.queue, place.job, JSON.stringify(task.params), String(task.runAtMs), String(RESERVE_MS), takeOver];
    return this.redis.qsSingletonReserve(this.slot(rule.key), this.retrying, ...args);
  }

  private slot(key: string): string {
    return `${this.prefix}:~singleton:${key}`;
  }
}
