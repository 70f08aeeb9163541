import type { Job } from 'bullmq';
import { TaskLostError } from '../../errors/errors';
import type { Task, TaskEvent, TaskEventKind } from '../../interfaces/task.interface';
import { type LibraryLogger, taskLabel } from '../../queue-scheduler.logger';
import { CANCELLED_DEFERRED } from './redis-event-marks';
import { TAKE_MARKED } from './redis-flow-scripts';
import type { RedisConnection } from './redis-connection';
import { isLockError, type JobData, taskOf } from './redis-jobs';
import { taskIdOf } from './redis-keys';
import type { QueueTracing } from '../../tracing/queue-tracing';

export type EmitEvent = (kind: TaskEventKind, task: Pick<Task, 'taskId' | 'type' | 'schedulerTaskId' | 'scheduledAt'> & { attempts?: number }, extra?: Partial<TaskEvent>) => void;

/** What condemn needs of the consumer. */
export interface CondemnHost {
  readonly logger: LibraryLogger;
  readonly maxLostTries: number;
  readonly emit: EmitEvent;
  /** The flows' reading of a child's failure mark (RedisFlows.childFailure). */
  childFailure(deferred: string): Promise<string | undefined>;
  lostLease(task: Task, outcome: string): void;
  readonly redis: () => RedisConnection;
  /** A fresh lock token of this instance (`<owner>:<n>`, as a fetch's). */
  nextToken(): string;
  readonly leaseMs: number;
  /** With `tracing: true`: a task dead of its lost tries ends a try span, as the runner's does on the databases. */
  readonly tracing: QueueTracing | undefined;
}

/**
 * A job BullMQ marked with a deferred failure (`defa`), as its own Worker
 * would: failed on fetch, without running. Three marks: a flow child that
 * died under 'fail' (BullMQ's `child <key> failed`: the parent dies naming
 * it); a cancel of a flow task (CANCELLED_DEFERRED: failing it tells its
 * parent through BullMQ, then it is removed, its cancelled record and event
 * written by the cancel); and a job lost more than maxStalledCount
 * (queue.maxLostTries) times, which BullMQ's stalled check queues again for
 * the next fetch to fail.
 */
export async function condemn(host: CondemnHost, job: Job, token: string): Promise<void> {
  const task = taskOf(job, false);
  const deferred = String(job.deferredFailure);
  const cancelled = deferred === CANCELLED_DEFERRED;
  const childFailure = cancelled ? undefined : await host.childFailure(deferred);
  const error = cancelled ? new Error(CANCELLED_DEFERRED) : childFailure !== undefined ? new Error(childFailure) : new TaskLostError(job.stalledCounter, host.maxLostTries);
  const message = error.message;
  job.opts.attempts = job.attemptsMade + 1;
  try {
    await job.moveToFailed(error, token, false);
  } catch (err) {
    if (isLockError(err)) return host.lostLease(task, 'dead');
    throw err;
  }
  if (cancelled) {
    await job.remove({ removeChildren: false });
  } else {
    // a parent dead of its child ran no handler: no attempt and no start, as on the other backends (moveToFailed
    // counted one, and the take that failed it set a start)
    if (childFailure !== undefined) {
      const key = host.redis().queueFor(job.name).toKey(job.id!);
      await host.redis().client.multi().hset(key, 'atm', task.attempts).hdel(key, 'processedOn').exec();
    }
    host.logger.error(`${taskLabel(task)} is dead: ${message}`);
    if (childFailure === undefined) {
      // moveToFailed counted the claim that found it lost as a try: the span and the event name the attempt its record shows
      task.attempts++;
      // a parent dead of its child never had a try, on any backend: no span for it
      if (host.tracing !== undefined) host.tracing.endTry(host.tracing.startTry(task), 'dead', error);
    }
    // found dead (lost too often, or a parent dead of its child), it ran no handler here: no duration, as on the other
    // backends (metrics counted a 0 ms handler run)
    host.emit('dead', task, { error: message });
  }
  await endMarkedParent(host, job);
}

/**
 * After a flow task failed for good (its last try, a cancel, a condemn):
 * the parent BullMQ marked to die of it (under 'fail') is ended now rather
 * than by the next fetch of its type, which a paused type, or one no
 * running instance handles, would put off. TAKE_MARKED takes it from its
 * queue under a lock of ours, as a fetch would; condemn then fails it, and
 * so on up the tree. A crash between the two leaves it active under a lock
 * that runs out: BullMQ's stalled check queues it again, and a fetch ends it.
 */
export async function endMarkedParent(host: CondemnHost, child: Job): Promise<void> {
  if (child.parentKey) await endMarked(host, child.parentKey);
}

/** Ends the job at `key` if it bears a deferred failure and waits in its queue (see endMarkedParent). */
export async function endMarked(host: CondemnHost, key: string): Promise<void> {
  const redis = host.redis();
  const id = key.slice(key.lastIndexOf(':') + 1);
  const token = host.nextToken();
  try {
    const type = (await redis.client.eval(TAKE_MARKED, 0, key, key.slice(0, -id.length), id, token, String(host.leaseMs), String(Date.now()))) as string | null;
    if (type === null) return;
    const job = (await redis.queueFor(type).getJob(id)) as Job | undefined;
    if (job) await condemn(host, job, token);
  } catch (err) {
    host.logger.warn(`task ${taskIdOf(id)}, marked to fail, is left to the next fetch of its type: ${(err as Error).message}`);
  }
}

/**
 * A flow parent fetched before its own run time: BullMQ delays a released
 * parent by a relative `delay`, so ours get none and wait here instead, put
 * back in BullMQ's delayed set until `runAt` (moveToDelayed uses no attempt).
 */
export function releasedEarly(job: Job): boolean {
  const { flowParent, runAt } = job.data as JobData;
  return flowParent === true && typeof runAt === 'number' && runAt > Date.now();
}
