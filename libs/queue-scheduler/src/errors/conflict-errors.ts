import { InvalidArgumentError, QueueSchedulerError } from './errors';

/**
 * The reason `ctx.signal` aborts with when the app shuts down and the task is
 * still running after `shutdownTimeoutMs` (`kind` 'shutdown'): the try is given
 * back without using an attempt, whatever the handler throws after. @publicApi
 */
export class TaskShutdownError extends QueueSchedulerError {
  readonly kind = 'shutdown' as const;

  constructor(readonly taskId: string) {
    super(`task ${taskId} was aborted: the application is shutting down`);
  }
}

/**
 * A change to a schedule (`updateSchedule`, `pauseSchedule`, `resumeSchedule`,
 * `deleteSchedule`) lost its compare-and-set on the row's version to other
 * instances ten times in a row; nothing was changed. Changes made by one
 * instance take turns and never meet it. `.scheduleId`. @publicApi
 */
export class ScheduleConflictError extends QueueSchedulerError {
  constructor(
    readonly scheduleId: string,
    what: string,
    tries: number,
  ) {
    super(`schedule '${scheduleId}': could not ${what}, other instances kept changing the row (${tries} tries); nothing was changed`);
  }
}

/** retryTask of a task in a status it cannot retry from: the one message every backend gives. */
export function notRetryable(taskId: string, status: string): InvalidArgumentError {
  return new InvalidArgumentError('taskId', `taskId '${taskId}': the task is ${status}; only dead or failed tasks can be retried`);
}
