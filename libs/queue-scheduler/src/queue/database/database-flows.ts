import type { QueryRunner } from 'typeorm';
import type { Sql } from '../../database/sql';
import { TaskNotFoundError } from '../../errors/errors';
import type { ChildFailurePolicy, ChildResult, FlowIds, FlowInput, FlowNode } from '../../interfaces/flow.interface';
import type { PushTaskInput, Task, TaskStatus } from '../../interfaces/task.interface';
import type { FlowStore } from '../durable-queue';
import { childFailedMessage, childFailedPrefix, childGone, deadOfChild, diedOfChild, flowIds, normalizeFlow } from '../flow-validation';
import type { NormalizedTask } from '../task-validation';
import { insertEnds, type Statement } from './statements/statement';
import { lifecycleRows, writeEvents } from './event-log';
import {
  childRows, diedOf, FLOW_ROWS_PER_INSERT, type FlowRow, flowRows, insertFlowTasks, lockedFlowRow, rearmParent, replaceFinishedRoot, uncountChild,
} from './statements/flows';
import type { Occurrence, ScheduleChangeTx } from '../queue-consumer';
import { cancelIn, type CancelledTask, cancelOccurrence } from './flow-cancels';
import { type DiedParent, emitDied, ENDED, leaveFlow, settleParents } from './settle-parents';
import { deleteFinished } from './statements/tasks';
import type { TaskEventStream } from '../task-events';
import type { FlowTask } from '../flow-validation';
import { reportedStatus, type Sequence } from './task-rows';

/**
 * The database backend's flows: a tree is inserted in one transaction, and
 * every change a child's end makes to its parent (count it, release it, fail
 * it) is written in the transaction that records that end, so two children
 * ending on two instances at once take turns on the parent's row lock.
 */
export class DatabaseFlows implements FlowStore {
  constructor(
    private readonly sql: Sql,
    private readonly seq: Sequence,
    private readonly normalize: (input: PushTaskInput) => NormalizedTask,
    private readonly announce: (tasks: NormalizedTask[]) => void,
    /** queue.clusterEvents: every node's `queued` event is written in the tree's transaction. */
    private readonly events = false,
    /** Where a parent's death of its child is reported (`events$`), once its transaction committed. */
    private readonly taskEvents?: TaskEventStream,
  ) {}

  private parentsDied(parents: readonly DiedParent[]): void {
    if (this.taskEvents !== undefined) emitDied(this.taskEvents, parents);
  }

  async push<P>(flow: FlowInput<P>): Promise<FlowIds> {
    const nodes = normalizeFlow(flow, this.normalize);
    await this.sql.transaction((runner) => this.insert(nodes, runner));
    this.announce(nodes.map((n) => n.task));
    return flowIds(nodes);
  }

  /**
   * Inserts a flow schedule's occurrence in the scheduler's claim transaction
   * (`runner`), so the claim and the whole tree commit together. The root's
   * id is the occurrence's: one still unfinished is not inserted again
   * (pushTask's dedupe rule); a finished one is replaced by the new tree.
   * Returns the tasks inserted, for the caller to announce after the commit.
   */
  async insertOccurrence(root: Occurrence, runner: QueryRunner): Promise<NormalizedTask[]> {
    const nodes = normalizeFlow(root, this.normalize, true);
    const [known] = await this.read(flowRows(this.sql, [nodes[0].task.taskId]), runner);
    if (known && !ENDED.has(known.status)) return [];
    for (const statement of known ? replaceFinishedRoot(known.task_id) : []) await this.write(statement, runner);
    await this.insert(nodes, runner);
    return nodes.map((n) => n.task);
  }

  private async insert(nodes: readonly FlowTask[], runner: QueryRunner): Promise<void> {
    // MySQL's statement is bounded in bytes too (see insertEnds): the params' JSON is made once, here, and handed to the statement
    const json = this.sql.dialect === 'mysql' ? nodes.map((n) => JSON.stringify(n.task.params)) : undefined;
    let from = 0;
    for (const to of insertEnds(nodes.length, FLOW_ROWS_PER_INSERT, json?.map((j) => j.length))) {
      await this.write(insertFlowTasks(this.sql, this.seq, nodes, from, to, json), runner);
      from = to;
    }
    if (this.events) await writeEvents(this.sql, lifecycleRows('queued', nodes.map((n) => n.task), Date.now()), runner);
  }

  async tree(rootId: string): Promise<FlowNode> {
    const [root] = await this.read(flowRows(this.sql, [rootId]));
    if (!root) throw new TaskNotFoundError(rootId);
    const top = node(root);
    let level = new Map([[root.task_id, top]]);
    while (level.size > 0) {
      const next = new Map<string, FlowNode>();
      for (const row of await this.read(childRows(this.sql, [...level.keys()]))) {
        const child = node(row);
        level.get(row.parent_id!)!.children.push(child);
        next.set(row.task_id, child);
      }
      level = next;
    }
    return top;
  }

  async childResults(task: Task): Promise<Record<string, ChildResult>> {
    const results: Record<string, ChildResult> = {};
    for (const row of await this.read(childRows(this.sql, [task.taskId], true))) {
      const status = reportedStatus(row);
      if (status === 'succeeded') results[row.task_id] = { type: row.task_type, status, result: row.result == null ? undefined : (JSON.parse(row.result) as unknown) };
      else if (row.on_child_failure !== 'ignore') results[row.task_id] = { type: row.task_type, status, error: row.error_message ?? undefined };
    }
    return results;
  }

  /**
   * A running try's cancel, written by `record`: a flow child's parent learns it in the same transaction (in one of
   * its own after it, a crash between the two left the parent waiting for ever).
   */
  async childCancelled(task: Task, record: (then?: (runner: QueryRunner) => Promise<void>) => Promise<void>): Promise<void> {
    if (task.parentId === undefined) return record();
    let died: DiedParent[] = [];
    await record(async (runner) => void (died = await settleParents(this.sql, runner, [task.taskId], Date.now(), this.events)));
    this.parentsDied(died);
  }

  /**
   * Cancels `taskId` if it has not started, and what under it has not
   * started, in one transaction; its parent learns it there too, and with
   * `events` (queue.clusterEvents) each cancel's event is written there.
   * Returns the tasks cancelled (id and type, for events$), none when
   * `taskId` had started or ended.
   */
  async cancel(taskId: string, events = false): Promise<CancelledTask[]> {
    let died: DiedParent[] = [];
    const cancelled = await this.sql.transaction(async (runner) => {
      let cancelled: CancelledTask[];
      ({ cancelled, died } = await cancelIn(this.sql, runner, taskId, events));
      return cancelled;
    });
    this.parentsDied(died);
    return cancelled;
  }

  /**
   * A schedule change in one transaction (QueueConsumer.inScheduleChange): its cancels and its write to the
   * schedule's row commit together. `cancelled` hears the tasks cancelled once committed (an occurrence has no
   * parent to die of it).
   */
  async inScheduleChange<T>(work: (tx: ScheduleChangeTx) => Promise<T>, cancelled: (task: CancelledTask) => void): Promise<T> {
    let done: CancelledTask[] = [];
    const result = await this.sql.transaction(async (runner) => {
      done = [];
      return work({ manager: runner.manager, cancel: (taskId) => cancelOccurrence(this.sql, runner, taskId, this.events, done) });
    });
    for (const task of done) cancelled(task);
    return result;
  }

  /** Deletes a finished task, which leaves its flow in the same transaction; false for one not finished, undefined for none. */
  delete(taskId: string): Promise<boolean | undefined> {
    return this.sql.transaction(async (runner) => {
      const [row] = await this.read(lockedFlowRow(this.sql, taskId), runner);
      if (!row) return undefined;
      if (!ENDED.has(row.status) || (await this.write(deleteFinished(taskId), runner)) === 0) return false;
      await leaveFlow(this.sql, runner, row);
      return true;
    });
  }

  /**
   * Runs the retry `statement` of `taskId`, its row locked: a parent that died of its child is refused while that
   * child is dead or cancelled; for a dead child, in the same transaction, its parent waits for it again, and a
   * parent that died of it is re-armed; with `events` its `queued` event is written there too. Returns the task's
   * type, or its status when the retry changed no row. The check was made before the transaction: a parent read
   * `waiting` (its child just retried) passed it, the child died again, and the parent ran without its child.
   */
  retry(taskId: string, statement: Statement, events = false): Promise<{ type: string } | { status: TaskStatus }> {
    return this.sql.transaction(async (runner) => {
      const [before] = await this.read(lockedFlowRow(this.sql, taskId), runner);
      if (!before) throw new TaskNotFoundError(taskId);
      if (before.status === 'dead') await this.refuseDeadOfChild(before, runner);
      if ((await this.write(statement, runner)) === 0) return { status: reportedStatus(before) };
      if (before.parent_id && before.status === 'dead') await this.retried(runner, before);
      if (events) await writeEvents(this.sql, lifecycleRows('queued', [{ taskId, type: before.task_type }], Date.now()), runner);
      return { type: before.task_type };
    });
  }

  /** A parent dead of its child under 'fail' ran no handler: run again now, it would run without that child's result. */
  private async refuseDeadOfChild(parent: FlowRow, runner: QueryRunner): Promise<void> {
    const child = await this.causeOf(parent, runner);
    if (!child && deadOfChild(parent.status, parent.error_message, Number(parent.attempts))) throw childGone(parent.task_id, parent.error_message!);
    if (child && (child.status === 'dead' || child.status === 'cancelled')) throw diedOfChild(parent.task_id, child.task_id, child.status, await this.hopeless(parent, runner));
  }

  /** The child a dead parent died of (its error names it), the longest id that fits; undefined for any other row. */
  private async causeOf(parent: FlowRow, runner: QueryRunner): Promise<FlowRow | undefined> {
    if (!deadOfChild(parent.status, parent.error_message, Number(parent.attempts))) return undefined;
    const named = (await this.read(childRows(this.sql, [parent.task_id]), runner)).filter((c) => parent.error_message!.startsWith(childFailedPrefix(c.task_id)));
    return named.sort((x, y) => y.task_id.length - x.task_id.length)[0];
  }

  /**
   * A task that can never succeed: cancelled, or dead of a child (not of its own handler) with a child under 'fail'
   * that can never succeed, down the tree. The children are read under their row locks: a cancel of one at the same
   * moment either commits before this reads it, or waits for this transaction and then finds the parent re-armed.
   */
  private async hopeless(row: FlowRow, runner: QueryRunner): Promise<boolean> {
    if (row.status === 'cancelled') return true;
    if (!deadOfChild(row.status, row.error_message, Number(row.attempts))) return false;
    for (const c of await this.read(childRows(this.sql, [row.task_id], false, true), runner)) if ((c.on_child_failure ?? 'fail') === 'fail' && (await this.hopeless(c, runner))) return true;
    return false;
  }

  private async retried(runner: QueryRunner, child: FlowRow): Promise<void> {
    const parentId = child.parent_id!;
    // a child counted off its parent when it failed ('ignore', 'continue') is waited for again
    if (child.on_child_failure !== 'fail') return void (await this.write(uncountChild(parentId), runner));
    const [parent] = await this.read(flowRows(this.sql, [parentId]), runner);
    if (!parent || !deadOfChild(parent.status, parent.error_message, Number(parent.attempts)) || !parent.error_message!.startsWith(childFailedPrefix(child.task_id))) return;
    // a sibling under 'fail' that can never succeed: re-armed, the parent would wait for it for ever. It stays dead, of
    // that sibling now (so retrying the parent is refused, naming it). The siblings are locked first: a cancel under
    // one, at once, either ends before this reads it, or finds the parent re-armed and fails it (settleParents)
    for (const s of await this.read(childRows(this.sql, [parentId], false, true), runner)) {
      if (s.task_id === child.task_id || (s.on_child_failure ?? 'fail') !== 'fail' || !(await this.hopeless(s, runner))) continue;
      return this.diedOf(runner, parent, childFailedMessage(s.task_id, s.task_type, s.status, s.error_message ?? undefined));
    }
    await this.write(rearmParent(parentId), runner);
    if (parent.parent_id) await this.retried(runner, parent);
  }

  /** A dead parent is dead of another child now (`error`); the ancestors dead of it quote its error in theirs, so the new one. */
  private async diedOf(runner: QueryRunner, parent: FlowRow, error: string): Promise<void> {
    await this.write(diedOf(parent.task_id, error), runner);
    for (let row = parent; row.parent_id !== null; ) {
      const [up] = await this.read(flowRows(this.sql, [row.parent_id]), runner);
      if (!up || !deadOfChild(up.status, up.error_message, Number(up.attempts)) || !up.error_message!.startsWith(childFailedPrefix(row.task_id))) return;
      await this.write(diedOf(up.task_id, (error = childFailedMessage(row.task_id, row.task_type, 'dead', error))), runner);
      row = up;
    }
  }

  private read(s: Statement, runner?: QueryRunner): Promise<FlowRow[]> {
    return this.sql.rows<FlowRow>(s.text, s.params, runner);
  }

  private write(s: Statement, runner: QueryRunner): Promise<number> {
    return this.sql.affected(s.text, s.params, runner);
  }
}

function node(row: FlowRow): FlowNode {
  return {
    taskId: row.task_id,
    type: row.task_type,
    status: reportedStatus(row) as TaskStatus,
    onChildFailure: (row.on_child_failure ?? undefined) as ChildFailurePolicy | undefined,
    error: row.error_message ?? undefined,
    children: [],
  };
}
