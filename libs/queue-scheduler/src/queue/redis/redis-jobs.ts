import type { Job } from 'bullmq';
import { TaskLostError } from '../../errors/errors';
import type { Task, TaskProgress, TaskRecord, TaskStatus } from '../../interfaces/task.interface';
import type { NormalizedTask } from '../task-validation';
import { taskIdOf, typeOfQueue } from './redis-keys';

/** What a BullMQ job carries for us; `name` is the task type. */
export interface JobData {
  taskId: string;
  params: unknown;
  priority: number;
  maxRetries?: number;
  schedulerTaskId?: string;
  /** epoch ms */
  scheduledAt?: number;
  /**
   * Not before this, epoch ms: BullMQ zeroes a job's delay when it moves the
   * job from delayed to waiting, so the run time is kept here (set again for a retry).
   */
  runAt?: number;
  /** The push's singletonKey, for the status API. */
  singletonKey?: string;
  /** The push's trace context (`tracing: true`), checked before it was written. */
  traceContext?: string;
  /** In a flow: the task that waits for this one (see RedisFlows). */
  parentId?: string;
  /** A flow's parent: it has no BullMQ delay, and waits for `runAt` once released (see releasedEarly). */
  flowParent?: true;
}

/**
 * BullMQ runs lower priority numbers first, FIFO within one, from 1 to 2^21;
 * ours are any integers with 0 the default, so they are shifted by 2^20.
 */
/** BullMQ job states of a task not finished yet (a retry waits as 'delayed'). */
export const UNFINISHED_STATES: ReadonlySet<string> = new Set(['active', 'waiting', 'prioritized', 'delayed', 'waiting-children', 'paused']);
/** BullMQ job states of a task not started yet: what a cancel removes. */
export const UNSTARTED_STATES: ReadonlySet<string> = new Set(['waiting', 'prioritized', 'delayed', 'waiting-children', 'paused']);

export const PRIORITY_OFFSET = 2 ** 20;
export const PRIORITY_LIMIT = PRIORITY_OFFSET - 1;

export function jobDataOf(t: NormalizedTask): JobData {
  return {
    taskId: t.taskId,
    params: t.params,
    priority: t.priority,
    maxRetries: t.maxRetries,
    schedulerTaskId: t.schedulerTaskId,
    scheduledAt: t.scheduledAt?.getTime(),
    runAt: t.runAtMs,
    singletonKey: t.singleton?.key,
    traceContext: t.traceContext,
  };
}

/** BullMQ's job state as our status; a delayed job that has failed before waits for its retry. */
export function statusOf(state: string, job: Pick<Job, 'attemptsMade'>): TaskStatus {
  switch (state) {
    case 'active':
      return 'running';
    case 'completed':
      return 'succeeded';
    case 'failed':
      return 'dead';
    case 'delayed':
      return job.attemptsMade > 0 ? 'failed' : 'pending';
    case 'waiting-children':
      return 'waiting';
    default:
      return 'pending';
  }
}

/**
 * Tries made: BullMQ's attemptsMade counts the tries that ended (succeeded or
 * failed), plus the one running now. A try lost on the way (its worker died,
 * or Redis dropped the reply of the fetch) is not one: BullMQ's stalled check
 * gives it back, and its stall limit dead-letters a task that keeps stalling.
 * A graceful shutdown's release (moveToWait) leaves the count alone too.
 */
export function attemptsOf(job: Pick<Job, 'attemptsMade'>, running: boolean): number {
  return job.attemptsMade + (running ? 1 : 0);
}

/** The task as a worker gets it: claimed, so its running try is counted. */
export function taskOf(job: Job, running = true): Task {
  // a job whose hash was deleted from outside reads back with no data and no name: its id and queue still say which task it was
  const data = (job.data ?? {}) as JobData;
  return {
    taskId: data.taskId ?? taskIdOf(String(job.id)),
    type: job.name ?? typeOfQueue(job.queueName),
    params: data.params,
    priority: data.priority,
    runAt: new Date(typeof data.runAt === 'number' ? data.runAt : job.timestamp + (job.delay ?? 0)),
    attempts: attemptsOf(job, running),
    maxRetries: data.maxRetries ?? undefined,
    schedulerTaskId: data.schedulerTaskId ?? undefined,
    scheduledAt: data.scheduledAt !== undefined && data.scheduledAt !== null ? new Date(data.scheduledAt) : undefined,
    createdAt: new Date(job.timestamp),
    traceContext: typeof data.traceContext === 'string' ? data.traceContext : undefined,
    parentId: typeof data.parentId === 'string' ? data.parentId : undefined,
  };
}

/**
 * A progress report as the job's BullMQ progress: wrapped, because BullMQ
 * starts every job at 0 and a report of 0 must read back as one.
 */
export function progressOf(value: TaskProgress): { progress: TaskProgress } {
  return { progress: value };
}

export function reportedProgress(job: Job): TaskProgress | undefined {
  const stored = job.progress as unknown;
  return stored !== null && typeof stored === 'object' && 'progress' in stored ? (stored as { progress: TaskProgress }).progress : undefined;
}

export function recordOf(job: Job, state: string): TaskRecord {
  const status = statusOf(state, job);
  const record: TaskRecord = { ...taskOf(job, status === 'running'), status };
  withSingletonKey(job, record);
  if (job.processedOn && status !== 'pending') record.startedAt = new Date(job.processedOn);
  if (job.finishedOn && (status === 'succeeded' || status === 'dead')) record.completedAt = new Date(job.finishedOn);
  // a success keeps its last failure's error, as on the other backends (a retry by hand clears failedReason)
  if (status !== 'pending') withLastFailure(job, record);
  if (status === 'succeeded' && job.returnvalue !== undefined && job.returnvalue !== null) record.result = job.returnvalue;
  const progress = reportedProgress(job);
  if (progress !== undefined) record.progress = progress;
  return record;
}

/** A push's singletonKey, kept in the job's data, read back as the other backends do (a cancel's record included). */
export function withSingletonKey(job: Job, record: TaskRecord): void {
  const { singletonKey } = job.data as JobData;
  if (typeof singletonKey === 'string') record.singletonKey = singletonKey;
}

/** The job's last failure (BullMQ's failedReason and last stack) as the record's error, when it has one. */
export function withLastFailure(job: Job, record: TaskRecord): void {
  if (!job.failedReason) return;
  record.error = lostReason(job) ?? job.failedReason;
  const stack = job.stacktrace?.at(-1);
  if (typeof stack === 'string') record.errorStack = stack;
}

/**
 * bullmq 5 fails a job past its stall limit in the stalled check itself, in
 * its own words (bullmq 6 leaves that to the next fetch: RedisConsumer.take);
 * the limit it passed was queue.maxLostTries, one below the count.
 */
function lostReason(job: Job): string | undefined {
  if (job.failedReason !== 'job stalled more than allowable limit') return undefined;
  return new TaskLostError(job.stalledCounter, job.stalledCounter - 1).message;
}

/** BullMQ refuses an outcome whose lock (our lease) is gone or is another's. */
export function isLockError(err: unknown): boolean {
  return /lock/i.test(String((err as Error)?.message));
}

