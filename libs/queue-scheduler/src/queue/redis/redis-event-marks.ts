/**
 * What clusterEvents$ cannot read from BullMQ's own stream entries alone.
 * A pending task's cancel removes its job, and BullMQ writes `removed` for
 * that as for a retried or deleted one: our entry says it was a cancel.
 */
export const CANCELLED_EVENT = ['event', 'qs-cancelled'];

/**
 * A failed try that will be retried: BullMQ records it as a job `delayed`,
 * as it does a release, and without the attempt. Ours is written before the
 * move, so it always precedes the retry's own `active` in the stream.
 */
export const RETRYING_EVENT = 'qs-retrying';

export function retryingEvent(jobId: string, attempt: number, error: string): string[] {
  return ['event', RETRYING_EVENT, 'jobId', jobId, 'attempt', String(attempt), 'failedReason', error];
}

/**
 * retryTask of a dead or failed task: BullMQ's retry and promote write
 * `waiting`, not `added`. Written before the move, so it precedes the
 * retry's `active`.
 */
export const QUEUED_AGAIN_EVENT = 'qs-queued';

/** A running task's cancel completes its job with this value, so its `completed` entry is told apart from a success. */
export const CANCELLED_RESULT = { 'nestjs-queue-scheduler': 'cancelled' };
export const CANCELLED_RESULT_JSON = JSON.stringify(CANCELLED_RESULT);

/**
 * The deferred failure (BullMQ's `defa` job field) a cancel leaves on a flow
 * task with a parent, and the error such a task (or a running flow child
 * cancelled) fails with: failing it, not removing or completing it, is what
 * makes BullMQ's own scripts tell its parent, as of a failure (see condemn).
 */
export const CANCELLED_DEFERRED = 'nestjs-queue-scheduler: cancelled';
