import type { QueryRunner } from 'typeorm';
import type { Sql } from '../../database/sql';
import type { Statement } from './statements/statement';
import { cancelUnstarted, childRows, type FlowRow, flowRows, lockedFlowRow, unstartedChildren } from './statements/flows';
import { type DiedParent, settleParents } from './settle-parents';
import { insertEndEvent } from './statements/task-events';

/** A task a cancel ended: its id and type, for events$. */
export interface CancelledTask {
  taskId: string;
  type: string;
}

/**
 * In `runner`'s transaction: cancels `taskId` if it has not started, and what under it has not started; its parent
 * learns it there too, and with `events` (queue.clusterEvents) each cancel's event is written there. Returns the
 * tasks cancelled (none when `taskId` had started or ended) and the parents that died of it.
 */
export async function cancelIn(sql: Sql, runner: QueryRunner, taskId: string, events: boolean): Promise<{ cancelled: CancelledTask[]; died: DiedParent[] }> {
  const now = Date.now();
  if ((await write(sql, cancelUnstarted(sql, [taskId], now), runner)) === 0) return { cancelled: [], died: [] };
  const [root] = await read(sql, flowRows(sql, [taskId]), runner);
  const cancelled = [{ taskId, type: root.task_type }];
  let parents = [taskId];
  while (parents.length > 0) {
    const children = await read(sql, unstartedChildren(sql, parents), runner);
    if (children.length > 0) await write(sql, cancelUnstarted(sql, children.map((r) => r.task_id), now), runner);
    for (const r of children) cancelled.push({ taskId: r.task_id, type: r.task_type });
    parents = children.map((r) => r.task_id);
  }
  const died = await settleParents(sql, runner, [taskId], now, events);
  for (const { taskId: id } of events ? cancelled : []) {
    const event = insertEndEvent(sql, id, now);
    await sql.rows(event.text, event.params, runner);
  }
  return { cancelled, died };
}

/**
 * An occurrence queued ahead, cancelled for a schedule change in its transaction, unless it or a task of its tree
 * has started or ended, read under the rows' locks: a change cancelled a flow occurrence whose children had started,
 * and the occurrence, given back, ran its children again in a new tree (an audit). The tasks cancelled go to `out`
 * (an occurrence has no parent to die of it). Absent: nothing will run it, true.
 */
export async function cancelOccurrence(sql: Sql, runner: QueryRunner, taskId: string, events: boolean, out: CancelledTask[]): Promise<boolean> {
  const [root] = await read(sql, lockedFlowRow(sql, taskId), runner);
  if (!root) return true;
  if (root.status !== 'pending' && root.status !== 'waiting') return false;
  for (let level = [taskId]; level.length > 0; ) {
    const rows = await read(sql, childRows(sql, level, false, true), runner);
    if (rows.some((r) => r.status !== 'pending' && r.status !== 'waiting')) return false;
    level = rows.map((r) => r.task_id);
  }
  const { cancelled } = await cancelIn(sql, runner, taskId, events);
  out.push(...cancelled);
  return cancelled.length > 0;
}

function read(sql: Sql, s: Statement, runner: QueryRunner): Promise<FlowRow[]> {
  return sql.rows<FlowRow>(s.text, s.params, runner);
}

function write(sql: Sql, s: Statement, runner: QueryRunner): Promise<number> {
  return sql.affected(s.text, s.params, runner);
}
