import type { QueryRunner } from 'typeorm';
import type { Sql } from '../../database/sql';
import { childFailedMessage, deadOfChild } from '../flow-validation';
import type { TaskEventStream } from '../task-events';
import { countChildren, failParent, type FlowRow, flowRows } from './statements/flows';
import { insertEndEvent } from './statements/task-events';

/** The statuses a task ends with. */
export const ENDED: ReadonlySet<string> = new Set(['succeeded', 'dead', 'cancelled']);

/**
 * Within the transaction that recorded their ends: the parents of `ended`
 * count them, become pending once none is left, or die of a child that
 * failed under 'fail' (and then their own parents learn it, up the tree).
 * Called for tasks with a parent only: a task outside a flow costs nothing here.
 * `events` (queue.clusterEvents): a parent's death is written to task_event too.
 */
export async function settleParents(sql: Sql, runner: QueryRunner, ended: readonly string[], now = Date.now(), events = false): Promise<DiedParent[]> {
  const out: DiedParent[] = [];
  let ids = ended;
  let dying: ReadonlySet<string> = new Set();
  while (ids.length > 0) {
    const counted = new Map<string, number>();
    const died: string[] = [];
    const { text, params } = flowRows(sql, ids);
    for (const row of await sql.rows<FlowRow>(text, params, runner)) {
      // the parents that died in the round before, read again as the children of theirs
      if (dying.has(row.task_id)) out.push({ taskId: row.task_id, type: row.task_type, attempts: Number(row.retry_count), error: row.error_message ?? '' });
      if (row.parent_id === null || !ENDED.has(row.status)) continue;
      if (row.status === 'succeeded' || row.on_child_failure !== 'fail') {
        counted.set(row.parent_id, (counted.get(row.parent_id) ?? 0) + 1);
        continue;
      }
      const fail = failParent(row.parent_id, childFailedMessage(row.task_id, row.task_type, row.status, row.error_message ?? undefined), now);
      // cancelled under a parent dead of another child: that parent can never succeed now, so its own parent, if
      // waiting for it (re-armed since it died), dies of it rather than waiting for ever
      const dead = (await sql.affected(fail.text, fail.params, runner)) > 0 ? row.parent_id : row.status === 'cancelled' ? await failWaitingParentOf(sql, runner, row.parent_id, now) : undefined;
      if (dead === undefined) continue;
      died.push(dead);
      if (events) {
        const event = insertEndEvent(sql, dead, now, 'dead');
        await sql.rows(event.text, event.params, runner);
      }
    }
    for (const [parent, n] of counted) {
      const count = countChildren(parent, n);
      await sql.affected(count.text, count.params, runner);
    }
    ids = died;
    dying = new Set(died);
  }
  return out;
}

/** A flow parent that died of its child (settleParents): reported on `events$` once its transaction committed, as the other backends do. */
export interface DiedParent {
  taskId: string;
  type: string;
  attempts: number;
  error: string;
}

export function emitDied(events: TaskEventStream, parents: readonly DiedParent[]): void {
  for (const parent of parents) events.emit('dead', parent, undefined, parent.error);
}

/**
 * A task below `taskId` was cancelled under 'fail', and `taskId` is dead of another child: it can never succeed now,
 * nor can its dead ancestors under 'fail'. The nearest one waiting for such a child (re-armed since it died) dies of
 * it; returns that one's id, if one did.
 */
async function failWaitingParentOf(sql: Sql, runner: QueryRunner, taskId: string, now: number): Promise<string | undefined> {
  for (let id: string | null = taskId; id !== null; ) {
    const read = flowRows(sql, [id]);
    const [task] = await sql.rows<FlowRow>(read.text, read.params, runner);
    if (!task || task.parent_id === null || task.on_child_failure !== 'fail' || !deadOfChild(task.status, task.error_message, Number(task.attempts))) return undefined;
    const fail = failParent(task.parent_id, childFailedMessage(task.task_id, task.task_type, 'dead', task.error_message ?? undefined), now);
    if ((await sql.affected(fail.text, fail.params, runner)) > 0) return task.parent_id;
    // not waiting: dead too (the next read climbs on), or anything else (it stops)
    id = task.parent_id;
  }
  return undefined;
}

/**
 * A finished task leaves its flow (deleted, or its id pushed again as a plain task), in the transaction that does
 * it, `row` read under its lock before: its children name no parent now, and its parent no longer waits for it. A
 * child under 'fail' that did not succeed was never counted off (its parent died of it, or, re-armed, waits for its
 * retry): it is now, so a waiting parent runs once its other children end, as the README says.
 */
export async function leaveFlow(sql: Sql, runner: QueryRunner, row: FlowRow): Promise<void> {
  await sql.affected('UPDATE task_queue SET parent_id = NULL WHERE parent_id = ?', [row.task_id], runner);
  if (row.parent_id === null || row.status === 'succeeded' || row.on_child_failure !== 'fail') return;
  const count = countChildren(row.parent_id, 1);
  await sql.affected(count.text, count.params, runner);
}
