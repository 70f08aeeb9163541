import type { Queue } from 'bullmq';
import type { NormalizedTask } from '../task-validation';
import type { RedisConnection } from './redis-connection';
import { jobDataOf, PRIORITY_OFFSET, UNFINISHED_STATES } from './redis-jobs';
import { jobIdOf } from './redis-keys';

/**
 * Adds the job unless its id is pending or running; a finished (or
 * cancelled) id is queued anew. BullMQ ignores an add whose job id exists,
 * so a retried or racing push of one id enqueues it once.
 */
export async function enqueue(redis: RedisConnection, task: NormalizedTask): Promise<boolean> {
  const keys = redis.keys;
  const previousType = await keys.index(task.taskId, task.type, false);
  if (previousType !== null) {
    const previous = await redis.jobOf(previousType, task.taskId);
    const state = previous ? await previous.getState() : 'unknown';
    if (UNFINISHED_STATES.has(state) && !(await keys.isCancelled(task.taskId))) return false;
    await previous?.remove();
    await keys.forget(task.taskId);
    await keys.index(task.taskId, task.type, true);
  }
  const queue: Queue = redis.queueFor(task.type);
  // before the add: a crash between the two leaves a mark on a task that does not exist (read as finished), never a task without its mark
  if (task.schedulerTaskId !== undefined) await keys.noteRun(task.schedulerTaskId, task.taskId);
  // BullMQ due time is the job's timestamp + delay: with its own Date.now() a ms later than ours, a task became due
  // 1 ms after its run time, the wake timer's claim found nothing, and it waited for the idle poll (about 1 s late)
  const now = Date.now();
  await queue.add(task.type, jobDataOf(task), {
    jobId: jobIdOf(task.taskId),
    priority: task.priority + PRIORITY_OFFSET,
    timestamp: now,
    delay: Math.max(0, task.runAtMs - now),
  });
  return true;
}
