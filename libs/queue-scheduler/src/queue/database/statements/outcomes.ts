import type { Task } from '../../../interfaces/task.interface';
import type { Sql } from '../../../database/sql';
import type { Statement } from './statement';
import { appendedTries, typed } from './tries';
import { failureOutcome } from '../../task-tries';

/** What one finished try writes: its task leaves `running` for one of these. */
export type Outcome = (
  | { kind: 'succeeded'; task: Task; result: string | null }
  | { kind: 'retrying'; task: Task; error: string; stack: string; retryAt: number }
  | { kind: 'dead'; task: Task; error: string; stack: string }
) & { durationMs?: number };

/** One UPDATE for outcomes that set the same columns, and the entries (of `outcomeUpdates`' batch) it covers. */
export interface OutcomeUpdate<W> extends Statement {
  readonly group: W[];
}

/**
 * The UPDATEs that write a batch of outcomes: those setting the same columns
 * share a statement; per-task values (result, error, retry time) go through
 * CASE. Every UPDATE keeps the per-task lease check (`status = 'running' AND
 * attempts = n`), so a try whose task was reclaimed meanwhile writes nothing.
 */
export function outcomeUpdates<W extends { readonly outcome: Outcome }>(sql: Sql, batch: W[], now: number): OutcomeUpdate<W>[] {
  const groups = new Map<string, W[]>();
  for (const w of batch) {
    const o = w.outcome;
    const key = o.kind === 'succeeded' ? (o.result === null ? 'succeeded' : 'succeeded-result') : o.kind;
    const group = groups.get(key);
    if (group) group.push(w);
    else groups.set(key, [w]);
  }
  const lease = 'lease_owner = NULL, lease_expires_at = NULL';
  const out: OutcomeUpdate<W>[] = [];
  for (const [key, group] of groups) {
    const set: string[] = [];
    const params: unknown[] = [];
    const caseOf = (type: string, value: (o: Outcome) => unknown): string => {
      for (const w of group) params.push(w.outcome.task.taskId, value(w.outcome));
      return byTask(sql, group.length, type);
    };
    const perTask = (column: string, type: string, value: (o: Outcome) => unknown): void => {
      set.push(`${column} = ${caseOf(type, value)}`);
    };
    type Failed = Extract<Outcome, { kind: 'retrying' | 'dead' }>;
    if (key === 'succeeded' || key === 'succeeded-result') {
      set.push("status = 'succeeded'", 'completed_at = ?');
      params.push(now);
      if (key === 'succeeded') set.push('result = NULL');
      else perTask('result', 'json', (o) => (o as Extract<Outcome, { kind: 'succeeded' }>).result);
    } else if (key === 'retrying') {
      set.push("status = 'pending'", 'retry_count = retry_count + 1');
      // a try followed by another is stored (before the lease is cleared: it names the instance); the last is read from the row
      const finishedAt = typed(sql, 'bigint');
      params.push(now);
      const outcome = caseOf('text', (o) => failureOutcome((o as Failed).stack));
      const error = caseOf('text', (o) => (o as Failed).error);
      const stack = caseOf('text', (o) => (o as Failed).stack);
      set.push('tries = ' + appendedTries(sql, { attempt: 'attempts', startedAt: 'started_at', finishedAt, outcome, error, stack, instance: 'lease_owner' }));
      perTask('run_at', 'bigint', (o) => (o as Failed & { kind: 'retrying' }).retryAt);
      perTask('error_message', 'text', (o) => (o as Failed).error);
      perTask('error_stack', 'text', (o) => (o as Failed).stack);
    } else {
      set.push("status = 'dead'", 'completed_at = ?', 'retry_count = retry_count + 1');
      params.push(now);
      perTask('error_message', 'text', (o) => (o as Failed).error);
      perTask('error_stack', 'text', (o) => (o as Failed).stack);
    }
    const where = leaseHeld(sql, group, params);
    out.push({ text: `UPDATE task_queue SET ${set.join(', ')}, ${lease} WHERE status = 'running' AND (${where})`, params, group });
  }
  return out;
}

/** A progress report (JSON text) of a running try; it writes nothing once that try is over or was reclaimed. */
export function writeProgress(task: Task, json: string): Statement {
  return { text: "UPDATE task_queue SET progress = ? WHERE task_id = ? AND status = 'running' AND attempts = ?", params: [json, task.taskId, task.attempts] };
}

/** An outcome UPDATE that also says which rows it changed (PostgreSQL and SQLite). */
export function returningIds(text: string): string {
  return `${text} RETURNING task_id`;
}

/** SQLite: the file's journal mode, to know whether a commit waits for fsync (see OutcomeBatch.walMode). */
export const JOURNAL_MODE = 'PRAGMA journal_mode';

/** `CASE task_id WHEN ? THEN ? … END`; PostgreSQL types CASE parameters as text unless told. */
function byTask(sql: Sql, n: number, type: string): string {
  const value = sql.dialect === 'postgres' ? `CAST(? AS ${type})` : '?';
  return `CASE task_id ${Array.from({ length: n }, () => `WHEN ? THEN ${value}`).join(' ')} END`;
}

/** The lease check of every task, grouped by attempt (nearly always one group): `attempts = ? AND task_id IN (…)`. */
function leaseHeld(sql: Sql, group: ReadonlyArray<{ readonly outcome: Outcome }>, params: unknown[]): string {
  const byAttempt = new Map<number, string[]>();
  for (const { outcome } of group) {
    const ids = byAttempt.get(outcome.task.attempts);
    if (ids) ids.push(outcome.task.taskId);
    else byAttempt.set(outcome.task.attempts, [outcome.task.taskId]);
  }
  const terms: string[] = [];
  for (const [attempts, ids] of byAttempt) {
    terms.push(`(attempts = ? AND task_id IN (${sql.list(ids.length)}))`);
    params.push(attempts, ...ids);
  }
  return terms.join(' OR ');
}
