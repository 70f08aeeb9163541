import type { Job } from 'bullmq';
import { TaskLostError } from '../../errors/errors';
import type { Task, TaskEvent, TaskEventKind } from '../../interfaces/task.interface';
import { type LibraryLogger, taskLabel } from '../../queue-scheduler.logger';
import { CANCELLED_DEFERRED } from './redis-event-marks';
import { isLockError, type JobData, taskOf } from './redis-jobs';

export type EmitEvent = (kind: TaskEventKind, task: Pick<Task, 'taskId' | 'type' | 'schedulerTaskId' | 'scheduledAt'> & { attempts?: number }, extra?: Partial<TaskEvent>) => void;

/** What condemn needs of the consumer. */
export interface CondemnHost {
  readonly logger: LibraryLogger;
  readonly maxLostTries: number;
  readonly emit: EmitEvent;
  /** The flows' reading of a child's failure mark (RedisFlows.childFailure). */
  childFailure(deferred: string): Promise<string | undefined>;
  lostLease(task: Task, outcome: string): void;
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
  if (cancelled) return void (await job.remove({ removeChildren: false }));
  host.logger.error(`${taskLabel(task)} is dead: ${message}`);
  host.emit('dead', task, { durationMs: 0, error: message });
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
