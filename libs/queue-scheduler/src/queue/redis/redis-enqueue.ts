import type { Queue } from 'bullmq';
import type { NormalizedTask } from '../task-validation';
import type { RedisConnection } from './redis-connection';
import { jobDataOf, PRIORITY_OFFSET, UNFINISHED_STATES } from './redis-jobs';
import { jobIdOf } from './redis-keys';
import { leaveFlow } from './redis-let-go';
import { withIdLock } from './redis-id-lock';

/**
 * Makes room for a push under `taskId`: undefined when its task is pending
 * or running (the push is dropped, pushTask's dedupe rule); otherwise the
 * old job, if any, is removed (not its flow children: they keep their own
 * records) and the returned `done` clears the old end's marks, to
 * be called once the new job exists: until then a read finds the old end,
 * never no task at all.
 */
export async function takeOverId(redis: RedisConnection, taskId: string, type: string): Promise<(() => Promise<void>) | undefined> {
  const keys = redis.keys;
  const previousType = await keys.index(taskId, type, false);
  if (previousType === null) return async () => undefined;
  const previous = await redis.jobOf(previousType, taskId);
  const state = previous ? await previous.getState() : 'unknown';
  if (UNFINISHED_STATES.has(state) && !(await keys.isCancelled(taskId))) return undefined;
  await previous?.remove({ removeChildren: false });
  await leaveFlow(redis, taskId, previousType);
  // a push order of its own (newest in listTasks, as on the other backends), and on a new type reads look for the job there
  await keys.index(taskId, type, true);
  return () => keys.forget(taskId);
}

/**
 * Adds the job unless its id is pending or running; a finished (or
 * cancelled) id is queued anew. BullMQ ignores an add whose job id exists,
 * so a retried or racing push of one id enqueues it once.
 */
export async function enqueue(redis: RedisConnection, task: NormalizedTask): Promise<boolean> {
  // an id made for this push: no task holds it, so the index entry needs no reply before the add (see addJob)
  if (task.generatedId) {
    const [indexed, added] = await Promise.allSettled([redis.keys.index(task.taskId, task.type, false), addJob(redis, task)]);
    if (indexed.status === 'fulfilled' && added.status === 'fulfilled') return true;
    // a push that throws stores nothing: a job whose index entry failed would be one no read finds
    if (added.status === 'fulfilled') await redis.queueFor(task.type).remove(jobIdOf(task.taskId)).catch(() => undefined);
    // and an index entry whose add failed would name a task no read finds (no other push holds a made id)
    else if (indexed.status === 'fulfilled') await unindex(redis, task.taskId).catch(() => undefined);
    throw indexed.status === 'rejected' ? indexed.reason : (added as PromiseRejectedResult).reason;
  }
  return withIdLock(redis, task.taskId, async () => {
    const done = await takeOverId(redis, task.taskId, task.type);
    if (!done) return false;
    await addJob(redis, task);
    await done();
    return true;
  });
}

/** Removes the job of a push taken back (out of BullMQ's pending sets already, so no worker can take it) and its index entry. */
export async function withdraw(redis: RedisConnection, task: NormalizedTask): Promise<void> {
  await redis.queueFor(task.type).remove(jobIdOf(task.taskId));
  await unindex(redis, task.taskId);
}

async function unindex(redis: RedisConnection, taskId: string): Promise<void> {
  const seq = await redis.keys.seqOf(taskId);
  if (seq !== null) await redis.keys.drop(taskId, seq);
}

/**
 * Called right after an index write not awaited, the commands still reach
 * Redis in the order they were issued on the one connection: the index
 * entry, the schedule's mark, then the job, as when each waits for the last.
 */
async function addJob(redis: RedisConnection, task: NormalizedTask): Promise<void> {
  const queue: Queue = redis.queueFor(task.type);
  // before the add: a crash between the two leaves a mark on a task that does not exist (read as finished), never a task without its mark
  if (task.schedulerTaskId !== undefined) await redis.keys.noteRun(task.schedulerTaskId, task.taskId);
  // BullMQ due time is the job's timestamp + delay: with its own Date.now() a ms later than ours, a task became due
  // 1 ms after its run time, the wake timer's claim found nothing, and it waited for the idle poll (about 1 s late)
  const now = Date.now();
  await queue.add(task.type, jobDataOf(task), {
    jobId: jobIdOf(task.taskId),
    priority: task.priority + PRIORITY_OFFSET,
    timestamp: now,
    delay: Math.max(0, task.runAtMs - now),
  });
}
