import type { ChildResult, FlowIds, FlowNode } from '../../interfaces/flow.interface';
import type { PushTaskInput, TaskEventKind } from '../../interfaces/task.interface';
import { childFailedMessage, childGone, diedOfChild, flowIds, type FlowTask, normalizeFlow } from '../flow-validation';
import { isUnfinished, type MemoryEntry } from './memory-entries';
import type { MemoryTasks } from './memory-tasks';
import type { WaitingTasks } from './waiting-tasks';

/**
 * A flow task that can never succeed: cancelled, or dead of a child (not of its own handler) with a child under
 * 'fail' that can never succeed, down the tree. Re-armed, a parent would wait for such a task for ever.
 */
function hopeless(entry: MemoryEntry): boolean {
  if (entry.status === 'cancelled') return true;
  if (entry.status !== 'dead' || entry.flow?.failedBy === undefined) return false;
  return entry.flow.children!.some((c) => c.flow!.policy === 'fail' && hopeless(c));
}

/** What the flows need of the memory queue: its books, its ready queues, and its own way to end and announce a task. */
export interface FlowHost {
  readonly tasks: MemoryTasks;
  readonly waiting: WaitingTasks;
  now(): number;
  entry(task: FlowTask['task'], now: number, idSeq: number): MemoryEntry;
  finish(entry: MemoryEntry, status: 'succeeded' | 'cancelled' | 'dead', at: number): void;
  emit(kind: TaskEventKind, entry: MemoryEntry, error?: string): void;
  /** A push validated by the queue's rules, with the counter of the id made for it (-1: the id was given). */
  normalize(input: PushTaskInput): { task: FlowTask['task']; idSeq: number };
}

/**
 * The memory backend's flows. Links live on the entries (`flow`), so a
 * flow is forgotten with its tasks and a task outside any flow carries one
 * undefined field and nothing else. Everything here runs in one turn of
 * the event loop, so a flow is pushed, released or failed atomically.
 */
export class MemoryFlows {
  constructor(private readonly host: FlowHost) {}

  /**
   * Validates the whole tree, then queues it in this turn of the event loop:
   * nothing is queued if a node is bad. `occurrence`: the root is a
   * scheduler's occurrence with its own id, queued once like any pushed id
   * (still unfinished: nothing is queued; finished: the new tree takes its place).
   */
  pushInput(flow: unknown, occurrence = false): FlowIds {
    const seqs: number[] = [];
    const nodes = normalizeFlow(flow, (input) => {
      const { task, idSeq } = this.host.normalize(input);
      seqs.push(idSeq);
      return task;
    }, occurrence);
    const known = occurrence ? this.host.tasks.get(nodes[0].task.taskId) : undefined;
    if (known && isUnfinished(known)) return { taskId: known.taskId, children: [] };
    if (known) this.supersede(known);
    this.push(nodes, seqs);
    return flowIds(nodes);
  }

  /** A finished task whose id a new push takes: its old children are let go of, they name no parent now, as on the other backends. */
  supersede(known: MemoryEntry): void {
    for (const child of known.flow?.children ?? []) child.flow!.parent = undefined;
    this.leave(known);
    this.host.tasks.supersede(known);
  }

  /** A finished task deleted (deleteTask): its parent no longer waits for it, and its children name no parent. */
  remove(entry: MemoryEntry): void {
    for (const child of entry.flow?.children ?? []) child.flow!.parent = undefined;
    this.leave(entry);
    this.host.tasks.remove(entry);
  }

  /**
   * A finished child under 'fail' that did not succeed was never counted off (its parent died of it, or, re-armed,
   * waits for its retry): leaving its flow, it is, so a waiting parent runs once its other children end.
   */
  private leave(entry: MemoryEntry): void {
    const link = entry.flow;
    if (link?.parent === undefined || link.counted) return;
    link.counted = true;
    this.countOff(link.parent);
  }

  /** One child of `parent` ended as it may: a waiting parent with none left becomes ready. */
  private countOff(parent: MemoryEntry): void {
    if (--parent.flow!.pending === 0 && parent.status === 'waiting') {
      this.host.tasks.setStatus(parent, 'pending');
      this.host.waiting.add(parent);
    }
  }

  /** Adds a validated tree (parents first): leaves ready now, parents waiting for their children. */
  push(nodes: readonly FlowTask[], idSeqs: readonly number[]): MemoryEntry[] {
    const now = this.host.now();
    const entries: MemoryEntry[] = [];
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i];
      const entry = this.host.entry(node.task, now, idSeqs[i]);
      const parent = node.parent < 0 ? undefined : entries[node.parent];
      entry.flow = { parent, policy: node.onChildFailure, counted: false, children: node.children > 0 ? [] : undefined, pending: node.children, failedBy: undefined };
      parent?.flow!.children!.push(entry);
      if (node.children > 0) entry.status = 'waiting';
      entries.push(entry);
    }
    // every entry is linked before any is announced or made claimable
    for (const entry of entries) {
      this.host.tasks.add(entry);
      this.host.emit('queued', entry);
      if (entry.flow!.children === undefined) this.host.waiting.add(entry, now);
    }
    return entries;
  }

  /** A flow task ended (through the queue's `finish`): its parent counts it, runs once none is left, or dies under 'fail'. */
  ended(child: MemoryEntry, status: 'succeeded' | 'cancelled' | 'dead'): void {
    const link = child.flow!;
    const parent = link.parent;
    if (parent === undefined) return;
    const flow = parent.flow!;
    if (status !== 'succeeded' && link.policy === 'fail') {
      if (status === 'cancelled' && parent.status === 'dead') this.lostBelow(parent);
      if (parent.status !== 'waiting') return;
      flow.failedBy = child;
      parent.error = childFailedMessage(child.taskId, child.type, status, child.error);
      this.host.finish(parent, 'dead', this.host.now());
      this.host.emit('dead', parent, parent.error);
      return;
    }
    link.counted = true;
    this.countOff(parent);
  }

  /**
   * A task below `entry` was cancelled under 'fail', and `entry` is dead of another child: it can never succeed now,
   * nor can its dead ancestors under 'fail'. The nearest one waiting for such a child (re-armed since it died) dies
   * of it, rather than waiting for ever.
   */
  private lostBelow(entry: MemoryEntry): void {
    for (let e = entry; e.status === 'dead' && e.flow?.failedBy !== undefined && e.flow.policy === 'fail'; e = e.flow.parent!) {
      const up = e.flow.parent;
      if (up?.status === 'waiting') return this.ended(e, 'dead');
      if (up?.status !== 'dead') return;
    }
  }

  /** retryTask of a parent dead of a child still dead or cancelled: refused (see diedOfChild). */
  refuseDeadOfChild(entry: MemoryEntry): void {
    const cause = entry.flow?.failedBy;
    if (cause?.superseded) throw childGone(entry.taskId, entry.error ?? '');
    if (cause !== undefined && (cause.status === 'dead' || cause.status === 'cancelled')) throw diedOfChild(entry.taskId, cause.taskId, cause.status, hopeless(entry));
  }

  /** A dead flow task queued again: its parent waits for it again, and one that died of it is re-armed. */
  retried(child: MemoryEntry): void {
    const link = child.flow!;
    const parent = link.parent;
    if (parent === undefined) return;
    const flow = parent.flow!;
    if (link.counted) {
      link.counted = false;
      flow.pending++;
      // released and not taken yet: it waits again (the child's result is not what it would have run with); one that
      // ran, or runs, keeps what it did, and the child runs alone
      if (parent.status === 'pending' && parent.attempts === 0) {
        this.host.waiting.remove(parent);
        this.host.tasks.setStatus(parent, 'waiting');
      }
    }
    if (parent.status === 'dead' && flow.failedBy === child) {
      // a sibling under 'fail' that can never succeed (cancelled, or dead of a cancelled task below it): re-armed, the
      // parent would wait for it for ever. It stays dead, of that sibling now (so retrying the parent is refused, naming it)
      const lost = flow.children?.find((c) => c !== child && c.flow!.policy === 'fail' && hopeless(c));
      if (lost !== undefined) {
        flow.failedBy = lost;
        parent.error = childFailedMessage(lost.taskId, lost.type, lost.status, lost.error);
        // the ancestors dead of it quote its error in theirs: they quote the new one
        for (let e = parent, up = e.flow!.parent; up?.status === 'dead' && up.flow!.failedBy === e; e = up, up = up.flow!.parent) {
          up.error = childFailedMessage(e.taskId, e.type, 'dead', e.error);
        }
        return;
      }
      flow.failedBy = undefined;
      parent.error = undefined;
      parent.attempts = 0;
      parent.completedAtMs = NaN;
      this.host.tasks.requeue(parent, 'waiting');
      this.retried(parent);
    }
  }

  /** Cancels what under `parent` has not started (running children finish as they finish). */
  /** Appends to `out`, parents first, what a cancel of `parent` also cancels: every task under it that has not started. */
  unstartedUnder(parent: MemoryEntry, out: MemoryEntry[]): MemoryEntry[] {
    for (const child of parent.flow?.children ?? []) {
      if (child.status !== 'pending' && child.status !== 'failed' && child.status !== 'waiting') continue;
      out.push(child);
      this.unstartedUnder(child, out);
    }
    return out;
  }

  tree(entry: MemoryEntry): FlowNode {
    return {
      taskId: entry.taskId,
      type: entry.type,
      status: entry.status,
      onChildFailure: entry.flow?.parent === undefined ? undefined : entry.flow.policy,
      error: entry.error,
      children: this.kept(entry).map((child) => this.tree(child)),
    };
  }

  /**
   * The children still known by their id: one deleted (deleteTask) or forgotten (historySize) is left out, as on the
   * other backends, though the parent still links it.
   */
  private kept(entry: MemoryEntry): MemoryEntry[] {
    const children = entry.flow?.children;
    return children === undefined ? [] : children.filter((child) => this.host.tasks.get(child.taskId) === child);
  }

  results(entry: MemoryEntry): Record<string, ChildResult> {
    const results: Record<string, ChildResult> = {};
    for (const child of this.kept(entry)) {
      if (child.status === 'succeeded') results[child.taskId] = { type: child.type, status: child.status, result: child.result };
      else if (child.flow!.policy !== 'ignore') results[child.taskId] = { type: child.type, status: child.status, error: child.error };
    }
    return results;
  }
}
