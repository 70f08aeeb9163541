import type { Sql } from '../../database/sql';
import type { TaskRow } from './task-rows';
import { claimDue, fitCaps, lockDue, markRunning, NO_JIT, NO_SORT, type ClaimCaps } from './statements/claim';

/**
 * Takes up to `limit` due rows of `types` for `owner` until `lease`, in the
 * dialect's way, and returns them as they are now (running, attempt counted).
 * `backlog`: the last claim filled its batch, so more is probably due than
 * this instance can take. `caps`: no more rows of those types are taken (see capsOf).
 */
export async function claimRows(sql: Sql, owner: string, now: number, lease: number, types: readonly string[], limit: number, backlog: boolean, caps: ClaimCaps): Promise<TaskRow[]> {
  if (sql.dialect === 'mysql') {
    // Over a backlog, REPEATABLE READ: READ COMMITTED visits the row of every index entry that rows claimed moments
    // ago left behind for purge, so the locking read grew to 3x the cost on MariaDB. Its gap locks can deadlock two
    // claims that reach the end of the queue together, so it is kept for backlogs, and a retry falls back.
    // MySQL has no UPDATE … RETURNING: the locked rows are read whole, and their running state is what the UPDATE writes
    return sql.transaction(async (runner) => {
      const lock = lockDue(sql, now, types, limit);
      // the rows past a cap are left unmarked: pending all along, and unlocked at commit
      const locked = fitCaps(await sql.rows<TaskRow>(lock.text, lock.params, runner), caps);
      if (!locked.length) return [];
      const mark = markRunning(sql, now, owner, lease, locked.map((r) => r.task_id));
      await sql.affected(mark.text, mark.params, runner);
      return locked.map((r) => ({ ...r, status: 'running', attempts: Number(r.attempts) + 1, started_at: now }));
    }, (attempt) => (backlog && attempt === 1 ? 'REPEATABLE READ' : 'READ COMMITTED'));
  }
  const claim = claimDue(sql, now, owner, lease, types, limit, caps);
  // PostgreSQL, over a backlog: statistics from before it arrived (autovacuum analyzes a minute or more later) made
  // the planner expect a handful of pending rows and read and sort all of them for every claim (70 ms per claim of
  // 100 at 60,000 pending); without a sort to choose, it walks idx_task_queue_claim in order and stops at the
  // limit (2 ms). Two round trips more, so only while a backlog lasts: a few pending rows sort in no time.
  if (sql.dialect === 'postgres' && backlog) {
    return sql.transaction(async (runner) => {
      // a capped claim's window sorts whatever the plan (at most `limit` rows), so sort off put 1e10 on its cost, and
      // that cost made PostgreSQL JIT-compile every claim: ~140 ms of a 155 ms claim, a drain 50x slower (audit).
      // One round trip for both settings: a second one cost a capped app's drain a fifth of its rate
      await runner.query(caps.length > 0 ? `${NO_SORT}; ${NO_JIT}` : NO_SORT);
      return sql.rows<TaskRow>(claim.text, claim.params, runner);
    });
  }
  return sql.rows<TaskRow>(claim.text, claim.params);
}
