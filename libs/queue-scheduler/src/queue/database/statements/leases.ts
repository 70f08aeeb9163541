import type { Task } from '../../../interfaces/task.interface';
import type { Sql } from '../../../database/sql';
import { FINISHED, type Statement } from './statement';
import { appendedTries, textLiteral } from './tries';

/**
 * Sets the lease of tasks `ids` this instance holds: extended while they run, or ended (a past time) for tries whose
 * outcome could not be written, so that the sweep queues them again. By id: renewing every row of the owner kept a
 * task whose outcome write failed in an outage `running` for as long as the instance was busy.
 */
export async function setLeasesOf(sql: Sql, owner: string, ids: readonly string[], expiresAt: number): Promise<number> {
  let set = 0;
  for (let i = 0; i < ids.length; i += LEASE_IDS) {
    const chunk = ids.slice(i, i + LEASE_IDS);
    set += await sql.rangeAffected(`UPDATE task_queue SET lease_expires_at = ? WHERE lease_owner = ? AND status = 'running' AND task_id IN (${sql.list(chunk.length)})`, [expiresAt, owner, ...chunk]);
  }
  return set;
}

/** Ids per lease statement: well within every driver's limit on parameters. */
const LEASE_IDS = 500;

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

/**
 * A flow's tasks go top-down: a finished child is kept while its parent's row is, whatever its age. Its parent reads it
 * (`childResults()` when it runs, `getFlow`, and `retryTask`, which refuses a parent dead of a child still dead); a
 * parent kept by its own waiting parent would otherwise lose its children, and a retry run it without them.
 */
const PARENT_STORED = 'EXISTS (SELECT 1 FROM task_queue p WHERE p.task_id = task_queue.parent_id)';

/** Deletes finished tasks completed before `before` (retention), but those whose parent is still stored (see PARENT_STORED). */
export function purgeFinished(sql: Sql, before: number): Statement {
  if (sql.dialect === 'mysql') {
    // MySQL refuses a subquery on the table a DELETE deletes from (error 1093); a join of the table to itself it takes
    return {
      text: `DELETE c FROM task_queue c LEFT JOIN task_queue p ON p.task_id = c.parent_id WHERE c.status IN ${FINISHED} AND c.completed_at < ? AND p.task_id IS NULL`,
      params: [before],
    };
  }
  return { text: `DELETE FROM task_queue WHERE status IN ${FINISHED} AND completed_at < ? AND NOT ${PARENT_STORED}`, params: [before] };
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
  return { text: `SELECT 1 AS n FROM task_queue WHERE status IN ${FINISHED} AND completed_at < ? AND NOT ${PARENT_STORED} LIMIT 1`, params: [before] };
}
