import type { Clock } from '../../clock';
import { TaskNotFoundError } from '../../errors/errors';
import { notRetryable } from '../../errors/conflict-errors';
import type { InstanceLoad, Task, TaskEventKind, TaskProgress, TaskRecord } from '../../interfaces/task.interface';
import { MemoryEntry, toRecord } from './memory-entries';
import { MemoryFlows } from './memory-flows';
import { cancelOptions, normalizePush, storableKey } from '../task-validation';
import type { ResolvedOptions } from '../../interfaces/options.interface';
import type { ChildResult, FlowIds, FlowInput, FlowNode } from '../../interfaces/flow.interface';
import { MemoryTasks } from './memory-tasks';
import { recordFailure, recordRetried, recordWithTries } from './memory-tries';
import { processName } from '../task-tries';
import { type CancelTaskOptions, type ListTasksFilter, type StatusCounts, TaskQueue, type TaskPage } from '../task-queue';
import { WaitingTasks } from './waiting-tasks';
import { PausedTypes, pausableType } from '../paused-types';
import { LocalWindows } from '../rate-windows';
import type { ClaimFilter } from '../queue-consumer';
import type { RateLimit } from '../../interfaces/task-handler.interface';
import { MemoryClusterEvents } from './memory-cluster-events';

/**
 * The memory queue's books and the status API over them, off the hot path:
 * sizes, task reads, retry and cancel. MemoryQueueService extends it with
 * what runs once per task (push, claim, outcomes) and the Nest lifecycle.
 * A base class rather than a helper object: push, claim and the outcomes stay methods of the queue object itself, with no extra call per task.
 */
export abstract class MemoryQueueStatus extends TaskQueue {
  /** @internal where the waiting tasks are (ready lanes, delayed heap) and the consumers asleep until one is ready */
  protected readonly waiting: WaitingTasks;
  /** @internal every task still known (unfinished, and the bounded history): by id, in push order, counted by status */
  protected readonly tasks: MemoryTasks;
  /** @internal */ protected readonly clock: Clock;
  /** @internal the types pauseType stopped, in this process */
  protected readonly paused = new PausedTypes();
  /** @internal the starts of each rate-limited type in its current window */
  protected readonly rates = new LocalWindows();
  /** @internal links and releases of flows; called from `finish` only for a task with a parent */
  protected readonly flows: MemoryFlows;
  private cancelListener?: (taskId: string) => boolean;
  protected abstract readonly options: ResolvedOptions;
  private clusterEvents?: MemoryClusterEvents;

  protected constructor(clock: Clock, historySize: number) {
    super();
    this.clock = clock;
    this.waiting = new WaitingTasks(clock);
    this.tasks = new MemoryTasks(historySize);
    this.flows = new MemoryFlows({
      tasks: this.tasks,
      waiting: this.waiting,
      now: () => this.clock.now(),
      entry: (task, now, idSeq) => new MemoryEntry(task, now, idSeq, this),
      finish: (entry, status, at) => this.finish(entry, status, at),
      emit: (kind, entry, error) => this.emit(kind, entry, undefined, error),
      normalize: (input) => {
        const task = normalizePush(input, this.options.queue.maxPayloadBytes, this.clock.now(), () => this.tasks.newId());
        return { task, idSeq: task.generatedId ? this.tasks.lastIdSeq : -1 };
      },
    });
  }

  /** Validates the whole tree, then queues it in this turn of the event loop: nothing is queued if a node is bad. */
  pushFlow<P>(flow: FlowInput<P>): FlowIds {
    return this.flows.pushInput(flow);
  }

  getFlow(rootId: string): FlowNode {
    const entry = storableKey(rootId) ? this.tasks.get(rootId) : undefined;
    if (!entry) throw new TaskNotFoundError(rootId);
    return this.flows.tree(entry);
  }

  childResults(task: Task): Record<string, ChildResult> {
    return this.flows.results(task as MemoryEntry);
  }

  /** Started by the first subscriber: in one process no one can hold the id of an event from before. */
  protected override clusterEventSource(): MemoryClusterEvents | undefined {
    return this.options.queue.clusterEvents ? (this.clusterEvents ??= new MemoryClusterEvents(this.taskEvents, this.options.queue.clusterEventsRetentionMs, () => this.clock.now())) : undefined;
  }

  override now(): number {
    return this.clock.now();
  }

  getQueueSize(): number { return this.waiting.size; }

  isEmpty(): boolean { return this.getQueueSize() === 0; }

  /** Tasks handed out and not finished yet. */
  getRunningCount(): number { return this.tasks.running; }

  /** Tasks whose time has come and that wait for a worker. */
  getReadyCount(): number { return this.waiting.readyCount; }

  /** When the earliest delayed task (or retry) is due, epoch ms; null when none waits. */
  nextDelayedAt(): number | null {
    return this.waiting.earliest();
  }

  /** Moves delayed tasks due by the clock to the ready queues and wakes every consumer (a manual clock's: its rate windows end as it moves) */
  promoteDelayed(): number {
    const moved = this.waiting.promote();
    this.waiting.wakeAll();
    return moved;
  }

  /** @internal the testing module's clock: when a claim with `filter` gets a ready task (now; a rate window's end; Infinity: none, or paused) */
  whenClaimable(filter: ClaimFilter): number {
    if (this.waiting.has(this.claimable(filter, 1))) return this.clock.now();
    return this.waiting.readyCount > 0 && filter.rateLimits !== undefined ? this.rates.wakeAt : Infinity;
  }

  // ---- status API: unfinished tasks, and the last queue.historySize finished and dead ones ----

  getTask(taskId: string): TaskRecord {
    const entry = this.entryOf(taskId);
    return recordWithTries(entry);
  }

  /** Newest first (the last push or retry); the cursor is a push order, so pages do not shift as tasks come and go. */
  listTasks(filter: ListTasksFilter = {}): TaskPage {
    return this.tasks.page(filter);
  }

  /** The dead-letter list: the last queue.historySize tasks whose attempts ran out, with their last error, oldest first. */
  listDeadTasks(): TaskRecord[] {
    return this.tasks.deadTasks().map(toRecord);
  }

  /** succeeded, cancelled and dead count every such task of this process, also those the history no longer keeps. */
  countByStatus(): StatusCounts {
    return this.tasks.statusCounts();
  }

  /** One instance: this process. */
  runningByInstance(): InstanceLoad[] {
    return [{ instance: processName, running: this.tasks.running, self: true }];
  }

  /** Queues a dead task again with a fresh attempt count, or runs a failed one (waiting for its retry) now. */
  retryTask(taskId: string): void {
    const entry = this.entryOf(taskId);
    if (entry.status !== 'dead' && entry.status !== 'failed') throw notRetryable(taskId, entry.status);
    if (entry.status === 'dead') this.flows.refuseDeadOfChild(entry);
    if (entry.status === 'failed') this.waiting.remove(entry);
    const now = this.clock.now();
    if (entry.flow !== undefined && entry.status === 'dead') this.flows.retried(entry);
    recordRetried(entry);
    entry.attempts = 0;
    entry.error = undefined;
    entry.runAtMs = now;
    this.tasks.requeue(entry, 'pending');
    this.emit('queued', entry);
    this.waiting.add(entry, now);
  }

  deleteTask(taskId: string): boolean {
    const entry = this.entryOf(taskId);
    if (entry.status !== 'succeeded' && entry.status !== 'cancelled' && entry.status !== 'dead') return false;
    this.flows.remove(entry);
    return true;
  }

  /** A pending task is cancelled at once; a running one gets its signal aborted and ends cancelled when its handler returns. */
  cancelTask(taskId: string, options?: CancelTaskOptions): boolean {
    const [{ running }, entry] = [cancelOptions(options), this.entryOf(taskId)];
    if (entry.status === 'running') {
      if (running === false) return false;
      // the request is made, as on the durable backends; a try with no signal to abort (a popTask consumer) ends as it ends
      this.cancelListener?.(taskId);
      return true;
    }
    if (entry.status !== 'pending' && entry.status !== 'failed' && entry.status !== 'waiting') return false;
    this.cancelEntry(entry);
    return true;
  }

  /** A task that has not started, and in a flow what under it has not started either. */
  private cancelEntry(entry: MemoryEntry): void {
    const cancelled = entry.flow?.children === undefined ? [entry] : this.flows.unstartedUnder(entry, [entry]);
    // a parent waiting for its children is in no ready lane or heap
    this.waiting.removeAll(cancelled.filter((e) => e.status !== 'waiting'));
    // a flow's nodes enter the history deepest first: its root, the newest, holds the nodes that fall out before it
    for (const e of cancelled) {
      this.finish(e, 'cancelled', this.clock.now(), cancelled.length === 1);
      this.emit('cancelled', e);
    }
    if (cancelled.length > 1) for (let i = cancelled.length - 1; i >= 0; i--) this.tasks.remember(cancelled[i]);
  }

  /** The entry of `taskId`; an id no push could have made (null, a number) is as unknown as a missing one, as on the durable backends. */
  private entryOf(taskId: string): MemoryEntry {
    const entry = storableKey(taskId) ? this.tasks.get(taskId) : undefined;
    if (!entry) throw new TaskNotFoundError(taskId);
    return entry;
  }

  onCancelRequest(listener: (taskId: string) => boolean): void {
    this.cancelListener = listener;
  }

  pauseType(type: string): void {
    this.paused.add(pausableType(type));
  }

  resumeType(type: string): void {
    this.paused.delete(pausableType(type));
    this.waiting.wakeAll();
  }

  listPausedTypes(): string[] {
    return this.paused.list();
  }

  // ---- consumers, off the hot path ----

  /** @internal what a claim of up to `limit` tasks with `filter` may take now: paused types out, rate-limited ones within their window */
  protected claimable(filter: ClaimFilter, limit: number): ClaimFilter {
    const f = this.paused.apply(filter);
    return f.rateLimits === undefined ? f : this.rates.limit(f as ClaimFilter & { rateLimits: ReadonlyMap<string, RateLimit> }, this.clock.now(), limit);
  }

  hasUnfinishedRun(scheduleId: string): Promise<boolean> {
    return Promise.resolve(this.tasks.unfinishedOf(scheduleId) > 0);
  }

  cancelled(task: Task, durationMs: number): void {
    const entry = this.runningEntry(task);
    this.finish(entry, 'cancelled', this.clock.now());
    this.emit('cancelled', entry, durationMs);
  }

  progress(task: Task, value: TaskProgress): void {
    const entry = this.runningEntry(task);
    entry.progress = value;
    this.emit('progress', entry, undefined, undefined, undefined, value);
  }

  /** @internal a try failed (off the success path): its error and stack, and the try itself when another follows */
  protected recordFailure(entry: MemoryEntry, error: Error, retried: boolean, finishedAt: number): void {
    recordFailure(entry, error, retried, finishedAt);
  }

  /** The entry a consumer holds: the task object claim handed out is the entry itself, so no lookup by id is needed. */
  /** @internal */
  protected runningEntry(task: Task): MemoryEntry {
    const entry = task as MemoryEntry;
    if (entry.owner !== this || entry.status !== 'running') throw new TaskNotFoundError(task.taskId);
    return entry;
  }

  // ---- kept with the hot path (MemoryQueueService), which calls them once per task ----

  /** @internal records a task's end and resolves onIdle when it was the last unfinished one */
  protected abstract finish(entry: MemoryEntry, status: 'succeeded' | 'cancelled' | 'dead', at: number, remember?: boolean): void;
  /** @internal */
  protected abstract emit(kind: TaskEventKind, entry: MemoryEntry, durationMs?: number, error?: string, retryAt?: Date, progress?: TaskProgress): void;
}
