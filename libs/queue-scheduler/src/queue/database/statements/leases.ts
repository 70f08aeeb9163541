import type { Task } from '../../../interfaces/task.interface';
import type { Sql } from '../../../database/sql';
import { FINISHED, type Statement } from './statement';
import { appendedTries, textLiteral } from './tries';

/** Extends the leases of every task this instance runs. */
export function renewLeases(owner: string, expiresAt: number): Statement {
  return { text: "UPDATE task_queue SET lease_expires_at = ? WHERE lease_owner = ? AND status = 'running'", params: [expiresAt, owner] };
}

/** Gives a claimed task back without using an attempt, if its lease is still this try's. */
export function releaseClaim(task: Task, runAt?: Date): Statement {
  const later = runAt ? ', run_at = ?' : '';
  return {
    text: `UPDATE task_queue SET status = 'pending', attempts = attempts - 1, started_at = NULL, lease_owner = NULL, lease_expires_at = NULL${later} WHERE task_id = ? AND status = 'running' AND attempts = ?`,
    params: [...(runAt ? [runAt.getTime()] : []), task.taskId, task.attempts],
  };
}

/**
 * Queues again the tasks whose lease ran out (their worker died or stalled),
 * each lost try stored with the instance that held it and when its lease ended.
 */
export function reclaimExpired(sql: Sql, now: number): Statement {
  const lost = appendedTries(sql, {
    attempt: 'attempts', startedAt: 'started_at', finishedAt: 'lease_expires_at', outcome: textLiteral(sql, 'lost'), error: 'NULL', stack: 'NULL', instance: 'lease_owner',
  });
  return { text: `UPDATE task_queue SET status = 'pending', tries = ${lost}, lease_owner = NULL, lease_expires_at = NULL WHERE status = 'running' AND lease_expires_at < ?`, params: [now] };
}

/** Deletes finished tasks completed before `before` (retention). */
export function purgeFinished(before: number): Statement {
  return { text: `DELETE FROM task_queue WHERE status IN ${FINISHED} AND completed_at < ?`, params: [before] };
}

/**
 * Whether any lease ran out, read without a lock (a plain read on InnoDB and PostgreSQL). The sweep's
 * UPDATE, which locks the index range it walks, runs only then: on MariaDB a sweep that found nothing
 * still deadlocked with the claims and outcome writes of three busy instances, five times in a row.
 */
export function anyExpired(now: number): Statement {
  return { text: "SELECT 1 AS n FROM task_queue WHERE status = 'running' AND lease_expires_at < ? LIMIT 1", params: [now] };
}

/** Whether any finished task is past retention, read without a lock; the DELETE runs only then (see anyExpired). */
export function anyFinishedBefore(before: number): Statement {
  return { text: `SELECT 1 AS n FROM task_queue WHERE status IN ${FINISHED} AND completed_at < ? LIMIT 1`, params: [before] };
}
