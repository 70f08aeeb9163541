/**
 * Cancels the flow tasks named (the one asked for first, then what is under
 * it) that have not started: each is taken out of BullMQ's waiting sets and
 * its cancelled record stored, in this one script, so no worker starts one
 * half-cancelled. The first, when it has a parent, is kept and marked with
 * CANCELLED_DEFERRED, due now (BullMQ's delayed set, scored as BullMQ scores
 * it, with the queue's delay marker), so a worker fails it at once and
 * BullMQ applies the parent's policy; every other is removed with its keys
 * (a running child of a removed parent then finds no parent to tell).
 * The kept one's cancel event is BullMQ's `failed` entry, with CANCELLED_DEFERRED as its reason.
 * Returns the task ids cancelled: none when the first had started or ended.
 * KEYS: cancelled hash, retrying set.
 * ARGV: now, first has a parent ('1'), write our cancel events ('1'), the mark, then per task:
 * its queue's key prefix, job id, task id, record JSON.
 */
export const CANCEL_FLOW = `
local now, hasParent, events, mark = tonumber(ARGV[1]), ARGV[2] == '1', ARGV[3] == '1', ARGV[4]
local out = {}
local function stateOf(q, id)
  for _, set in ipairs({ 'prioritized', 'delayed', 'waiting-children' }) do
    if redis.call('ZSCORE', q .. set, id) then return set end
  end
  for _, list in ipairs({ 'wait', 'paused' }) do
    if redis.call('LPOS', q .. list, id) then return list end
  end
  return false
end
for i = 5, #ARGV, 4 do
  local q, id, taskId, record = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local state = redis.call('HEXISTS', KEYS[1], taskId) == 0 and stateOf(q, id)
  if i == 5 and not state then return out end
  if state then
    local key = q .. id
    if state == 'wait' or state == 'paused' then redis.call('LREM', q .. state, 0, id) else redis.call('ZREM', q .. state, id) end
    redis.call('DEL', key .. ':dependencies')
    if i == 5 and hasParent then
      redis.call('HSET', key, 'defa', mark, 'delay', 0)
      redis.call('ZADD', q .. 'delayed', now * 4096, id)
      local first = redis.call('ZRANGE', q .. 'delayed', 0, 0, 'WITHSCORES')
      redis.call('ZADD', q .. 'marker', math.floor(tonumber(first[2]) / 4096), '1')
    else
      redis.call('DEL', key, key .. ':logs', key .. ':processed', key .. ':failed', key .. ':unsuccessful')
      redis.call('XADD', q .. 'events', '*', 'event', 'removed', 'jobId', id, 'prev', state)
    end
    if events and not (i == 5 and hasParent) then redis.call('XADD', q .. 'events', '*', 'event', 'qs-cancelled', 'jobId', id) end
    redis.call('HSET', KEYS[1], taskId, record)
    redis.call('SREM', KEYS[2], taskId)
    out[#out + 1] = taskId
  end
end
return out
`;

/**
 * Lua: whether the job at `key` can never succeed: its task cancelled, or
 * dead of a child while a child of it under 'fail' can never succeed, down
 * the tree. The one reading of the rule on Redis, for the re-arm (atomic
 * with it) and for retryTask's refusal alike. Needs locals `flows` (the
 * flows hash) and `cancelled` (the cancelled hash) set before it.
 */
const HOPELESS_FUNCTION = `
local function taskOf(key)
  local data = redis.call('HGET', key, 'data')
  return data and cjson.decode(data).taskId
end
local function failsParent(id)
  local links = redis.call('HGET', flows, id)
  return (links and cjson.decode(links).f or 'fail') == 'fail'
end
-- a job failed with reason is dead of a child (deadOfChild in flow-validation.ts): the words, and no attempt made
local function deadOfChild(key, reason)
  return reason and string.sub(reason, 1, 11) == 'child task ' and (tonumber(redis.call('HGET', key, 'atm')) or 0) == 0
end
-- the job at key can never succeed: cancelled, or dead of a child with a child under 'fail' that can never succeed
local function hopeless(key, depth)
  local id = taskOf(key)
  if not id then return false end
  if redis.call('HEXISTS', cancelled, id) == 1 then return true end
  local reason = redis.call('HGET', key, 'failedReason')
  local jobId = string.match(key, '([^:]+)$')
  if depth > 12 or not deadOfChild(key, reason) or not redis.call('ZSCORE', string.sub(key, 1, #key - #jobId) .. 'failed', jobId) then return false end
  -- a cancelled child's job is removed once failed through BullMQ: its record and links tell
  local links = redis.call('HGET', flows, id)
  for _, kid in ipairs(links and cjson.decode(links).c or {}) do
    if redis.call('HEXISTS', cancelled, kid) == 1 and failsParent(kid) then return true end
  end
  for _, k in ipairs(redis.call('ZRANGE', key .. ':unsuccessful', 0, -1)) do
    if hopeless(k, depth + 1) then return true end
  end
  return false
end
`;

/**
 * Whether a flow task can never succeed (see HOPELESS_FUNCTION), for
 * retryTask's refusal. ARGV: the task's job key, the flows hash, the
 * cancelled hash. Returns 1 or 0.
 */
export const HOPELESS = `
local flows, cancelled = ARGV[2], ARGV[3]
${HOPELESS_FUNCTION}
return hopeless(ARGV[1], 0) and 1 or 0
`;

/**
 * After BullMQ retried a dead flow child (which puts it back among its
 * parent's dependencies, but leaves a parent that has ended alone): a parent
 * that died of this child (its error starts 'child task <id> '), or that
 * BullMQ marked to die of it and no fetch has failed yet, goes back to
 * waiting-children with a fresh attempt count, waiting for this child and for
 * any other that died under 'fail', and so on up the tree. A parent with a
 * child under 'fail' that can never succeed (cancelled, or dead of its child
 * with such a child of its own, down the tree) is not: it stays dead, of
 * that child now. Read here, in the script, so that a cancel is either seen
 * or comes after the re-arm (and then fails the re-armed parent). A child
 * under 'continue' or 'ignore' makes a parent released and not taken yet
 * wait for it again, and is let go of by one taken (it runs alone).
 * ARGV: the child's job key, now, the flows hash, the cancelled hash. Returns how many parents were re-armed.
 */
export const REARM_PARENTS = `
local child, rearmed, flows, cancelled = ARGV[1], 0, ARGV[3], ARGV[4]
${HOPELESS_FUNCTION}
-- key is dead of another child now (reason): the ancestors dead of it quote its error in theirs, so the new one
local function diedOf(key, reason)
  redis.call('HSET', key, 'failedReason', reason)
  while true do
    local up = redis.call('HGET', key, 'parentKey')
    if not up or redis.call('EXISTS', up) == 0 then return end
    local upId = string.match(up, '([^:]+)$')
    local named = 'child task ' .. taskOf(key) .. ' '
    local was = redis.call('HGET', up, 'failedReason')
    if not (redis.call('ZSCORE', string.sub(up, 1, #up - #upId) .. 'failed', upId) and was and string.sub(was, 1, #named) == named) then return end
    reason = named .. '(' .. redis.call('HGET', key, 'name') .. ') is dead: ' .. reason
    redis.call('HSET', up, 'failedReason', reason)
    key = up
  end
end
-- a child under 'continue' or 'ignore' (BullMQ put it back among its parent's dependencies): a parent released and not
-- taken yet waits for it again; one that ran, runs or ended keeps what it did, and the child runs alone (left among its
-- dependencies, the parent's outcome was refused and it ran again)
do
  local parentKey = redis.call('HGET', child, 'parentKey')
  local own = parentKey and redis.call('HGET', flows, cjson.decode(redis.call('HGET', child, 'data')).taskId)
  if own and (cjson.decode(own).f or 'fail') ~= 'fail' then
    if redis.call('EXISTS', parentKey) == 0 or redis.call('SISMEMBER', parentKey .. ':dependencies', child) == 0 then return 0 end
    local id = string.match(parentKey, '([^:]+)$')
    local q = string.sub(parentKey, 1, #parentKey - #id)
    if redis.call('ZSCORE', q .. 'waiting-children', id) then return 0 end
    -- dead of (or marked to die of) another child: it has not run, and once re-armed it waits for this one too
    local reason = redis.call('HGET', parentKey, 'failedReason')
    if redis.call('HEXISTS', parentKey, 'defa') == 1 or (redis.call('ZSCORE', q .. 'failed', id) and deadOfChild(parentKey, reason)) then return 0 end
    local taken = redis.call('HEXISTS', parentKey, 'processedOn') == 1 or tonumber(redis.call('HGET', parentKey, 'atm') or '0') > 0
    if not taken and (redis.call('ZREM', q .. 'prioritized', id) + redis.call('ZREM', q .. 'delayed', id)
      + redis.call('LREM', q .. 'wait', 0, id) + redis.call('LREM', q .. 'paused', 0, id)) > 0 then
      redis.call('ZADD', q .. 'waiting-children', ARGV[2], id)
      redis.call('XADD', q .. 'events', '*', 'event', 'waiting-children', 'jobId', id, 'prev', 'waiting')
      return 1
    end
    redis.call('SREM', parentKey .. ':dependencies', child)
    return 0
  end
end
while true do
  local parentKey = redis.call('HGET', child, 'parentKey')
  if not parentKey or redis.call('EXISTS', parentKey) == 0 then break end
  local id = string.match(parentKey, '([^:]+)$')
  local q = string.sub(parentKey, 1, #parentKey - #id)
  local childId = cjson.decode(redis.call('HGET', child, 'data')).taskId
  local named = 'child task ' .. childId .. ' '
  local reason = redis.call('HGET', parentKey, 'failedReason')
  local died = redis.call('ZSCORE', q .. 'failed', id) and deadOfChild(parentKey, reason) and string.sub(reason, 1, #named) == named
  if died then
    local links = redis.call('HGET', flows, cjson.decode(redis.call('HGET', parentKey, 'data')).taskId)
    for _, sibling in ipairs(links and cjson.decode(links).c or {}) do
      local own = sibling ~= childId and redis.call('HGET', flows, sibling)
      local record = own and (cjson.decode(own).f or 'fail') == 'fail' and redis.call('HGET', cancelled, sibling)
      if record then
        diedOf(parentKey, 'child task ' .. sibling .. ' (' .. cjson.decode(record).type .. ') was cancelled')
        return rearmed
      end
    end
    for _, other in ipairs(redis.call('ZRANGE', parentKey .. ':unsuccessful', 0, -1)) do
      if other ~= child and hopeless(other, 0) then
        local why = redis.call('HGET', other, 'failedReason')
        diedOf(parentKey, 'child task ' .. taskOf(other) .. ' (' .. redis.call('HGET', other, 'name') .. ') is dead: ' .. why)
        return rearmed
      end
    end
  end
  -- marked by BullMQ for this child but not failed yet by a fetch: taken back from its queue before one does
  local marked = not died and redis.call('HGET', parentKey, 'defa') == 'child ' .. child .. ' failed'
    and (redis.call('ZREM', q .. 'prioritized', id) + redis.call('ZREM', q .. 'delayed', id) + redis.call('LREM', q .. 'wait', 0, id)) > 0
  if not died and not marked then break end
  if redis.call('ZREM', parentKey .. ':unsuccessful', child) == 1 or redis.call('HDEL', parentKey .. ':failed', child) == 1 then
    redis.call('SADD', parentKey .. ':dependencies', child)
  end
  -- its other children dead under 'fail' are waited for again too: it runs once each is retried and succeeds, as on
  -- the other backends (BullMQ released it when the retried child alone succeeded, then refused its outcome)
  -- a sibling that has left its flow meanwhile (deleted, or its id pushed again as a plain task) is not: nothing would
  -- end it for this parent, which waited for ever (a regression audit: a retry and a delete at the same moment)
  for _, other in ipairs(redis.call('ZRANGE', parentKey .. ':unsuccessful', 0, -1)) do
    if redis.call('HGET', other, 'parentKey') == parentKey then redis.call('SADD', parentKey .. ':dependencies', other) end
  end
  redis.call('DEL', parentKey .. ':unsuccessful')
  redis.call('ZREM', q .. 'failed', id)
  redis.call('HDEL', parentKey, 'failedReason', 'finishedOn', 'processedOn', 'defa', 'stacktrace', 'stc')
  redis.call('HSET', parentKey, 'atm', 0, 'ats', 0)
  redis.call('ZADD', q .. 'waiting-children', ARGV[2], id)
  redis.call('XADD', q .. 'events', '*', 'event', 'waiting-children', 'jobId', id, 'prev', 'failed')
  rearmed = rearmed + 1
  child = parentKey
end
return rearmed
`;

/**
 * A flow task dead of its child, under 'fail' to a parent waiting for it
 * (re-armed since it died), has had a task below it cancelled: it can never
 * succeed, so its parent is marked to die of it, as BullMQ marks a parent
 * when a child fails (moved from waiting-children, due now, with `defa`),
 * and a fetch, or endMarked at once, fails it.
 * ARGV: the dead task's job key, now. Returns 1 when its parent was marked.
 */
export const MARK_WAITING_PARENT = `
local child, now = ARGV[1], tonumber(ARGV[2])
local parentKey = redis.call('HGET', child, 'parentKey')
if not parentKey or redis.call('EXISTS', parentKey) == 0 then return 0 end
local id = string.match(parentKey, '([^:]+)$')
local q = string.sub(parentKey, 1, #parentKey - #id)
if not redis.call('ZSCORE', q .. 'waiting-children', id) or redis.call('SREM', parentKey .. ':dependencies', child) == 0 then return 0 end
redis.call('ZADD', parentKey .. ':unsuccessful', now, child)
redis.call('ZREM', q .. 'waiting-children', id)
redis.call('HSET', parentKey, 'defa', 'child ' .. child .. ' failed', 'delay', 0)
redis.call('ZADD', q .. 'delayed', now * 4096, id)
local first = redis.call('ZRANGE', q .. 'delayed', 0, 0, 'WITHSCORES')
redis.call('ZADD', q .. 'marker', math.floor(tonumber(first[2]) / 4096), '1')
return 1
`;

/**
 * Takes a job that bears a deferred failure (BullMQ's `defa`) out of its
 * queue's waiting sets into `active`, locked with ARGV[4] for ARGV[5] ms, as
 * BullMQ's fetch does, so that moveToFailed accepts the lock: returns its
 * name (the task type), or nil when it bears none or is not waiting (a
 * worker took it, or it ended).
 * ARGV: job key, its queue's key prefix, job id, token, lock ms, now.
 */
export const TAKE_MARKED = `
local key, q, id = ARGV[1], ARGV[2], ARGV[3]
if not redis.call('HGET', key, 'defa') then return nil end
local taken = redis.call('ZREM', q .. 'prioritized', id) + redis.call('ZREM', q .. 'delayed', id)
  + redis.call('LREM', q .. 'wait', 0, id) + redis.call('LREM', q .. 'paused', 0, id)
if taken == 0 then return nil end
redis.call('LPUSH', q .. 'active', id)
redis.call('SET', key .. ':lock', ARGV[4], 'PX', ARGV[5])
redis.call('HSET', key, 'processedOn', ARGV[6])
redis.call('HINCRBY', key, 'ats', 1)
return redis.call('HGET', key, 'name')
`;
