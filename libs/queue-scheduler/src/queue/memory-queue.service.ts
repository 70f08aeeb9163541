import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import { type Clock, QUEUE_SCHEDULER_CLOCK, systemClock } from '../clock';
import { Subject } from 'rxjs';
import { TaskNotFoundError, describeValue, InvalidArgumentError, InvalidTaskError } from '../errors/errors';
import type { ResolvedOptions } from '../interfaces/options.interface';
import type { PushTaskInput, Task, TaskEvent, TaskEventKind, TaskRecord, TaskStatus } from '../interfaces/task.interface';
import { MAX_TIMER_MS, RESOLVED_OPTIONS } from '../queue-scheduler.constants';
import { LibraryLogger } from '../queue-scheduler.logger';
import { MemoryPublicStore } from '../store/memory-public-store';
import { BinaryHeap } from './binary-heap';
import { type ClaimFilter, type ListTasksFilter, type StatusCounts, TaskQueue, type TaskPage } from './task-queue';
import { type NormalizedTask, normalizePush } from './task-validation';
import { Waiters } from './waiters';

interface Entry extends TaskRecord {
  seq: number;
}

const byPriority = (a: Entry, b: Entry): boolean => a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq);
const byRunAt = (a: Entry, b: Entry): boolean => a.runAt.getTime() < b.runAt.getTime() || (a.runAt.getTime() === b.runAt.getTime() && a.seq < b.seq);

/**
 * The in-process backend: a heap of ready tasks per type (lower priority
 * number first, FIFO within one), a heap of delayed tasks by run time, and the
 * public store. Tasks live only as long as the process. The seed system's API
 * (`pushTask`, `popTask`, `taskDone`, `setPublic`, …) is kept as is.
 * @publicApi
 */
@Injectable()
export class MemoryQueueService extends TaskQueue implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly events = new Subject<TaskEvent>();
  readonly events$ = this.events.asObservable();
  private readonly logger: LibraryLogger;
  private readonly store: MemoryPublicStore;
  private readonly ready = new Map<string, BinaryHeap<Entry>>();
  private readonly delayed = new BinaryHeap<Entry>(byRunAt);
  /** Pending and running tasks by id: the dedupe index. */
  private readonly live = new Map<string, Entry>();
  /** Recent finished tasks, oldest first (a Map keeps insertion order), bounded by queue.historySize. */
  private readonly history = new Map<string, Entry>();
  private readonly dead = new Map<string, Entry>();
  private readonly waiters = new Waiters();
  private readonly idleWaiters: Array<() => void> = [];
  private readonly finished: Record<'succeeded' | 'cancelled', number> = { succeeded: 0, cancelled: 0 };
  private seq = 0;
  private readyCount = 0;
  private running = 0;
  private delayTimer?: NodeJS.Timeout;
  private delayTimerAt = Infinity;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    @Optional() @Inject(QUEUE_SCHEDULER_CLOCK) private readonly clock: Clock = systemClock,
  ) {
    super();
    this.logger = new LibraryLogger(MemoryQueueService.name, options.logLevel);
    this.store = new MemoryPublicStore(() => this.clock.now());
  }

  override now(): number {
    return this.clock.now();
  }

  onApplicationBootstrap(): void {
    if (this.options.autoStart) this.startCleanup();
  }

  onModuleDestroy(): void {
    this.stopCleanup();
    this.clearDelayTimer();
    this.waiters.wakeAll();
    this.events.complete();
  }

  // ---- producers -------------------------------------------------------

  pushTask<P>(input: PushTaskInput<P>): string {
    return this.add(normalizePush(input, this.options.queue.maxPayloadBytes, this.clock.now()));
  }

  /**
   * Pushes several tasks, in order, each with pushTask's dedupe rule. Every
   * input is validated before the first is queued, so a bad one queues none.
   */
  pushTasks<P>(inputs: PushTaskInput<P>[]): string[] {
    if (!Array.isArray(inputs)) throw new InvalidArgumentError('inputs', `inputs must be an array of tasks, got ${describeValue(inputs)}`);
    const now = this.clock.now();
    const tasks = inputs.map((input, i) => {
      try {
        return normalizePush(input, this.options.queue.maxPayloadBytes, now);
      } catch (err) {
        if (err instanceof InvalidTaskError) throw new InvalidTaskError(`inputs[${i}].${err.field}`, `inputs[${i}]: ${err.message}`);
        throw err;
      }
    });
    return tasks.map((task) => this.add(task));
  }

  private add(task: NormalizedTask): string {
    if (this.live.has(task.taskId)) return task.taskId;
    this.dead.delete(task.taskId);
    this.history.delete(task.taskId);
    const entry: Entry = {
      taskId: task.taskId,
      type: task.type,
      params: task.params,
      priority: task.priority,
      runAt: task.runAt,
      attempts: 0,
      maxRetries: task.maxRetries,
      schedulerTaskId: task.schedulerTaskId,
      scheduledAt: task.scheduledAt,
      createdAt: new Date(this.clock.now()),
      status: 'pending',
      seq: this.seq++,
    };
    this.live.set(entry.taskId, entry);
    this.emit('queued', entry);
    this.enqueue(entry);
    return entry.taskId;
  }

  /** Takes the next ready task (any type), waiting up to `timeoutMs` for one; null on timeout. Call `taskDone` after. */
  async popTask(timeoutMs = 0): Promise<Task | null> {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    const anyType: ClaimFilter = { types: [], unknownTypes: true, handled: new Set() };
    for (;;) {
      const [task] = this.claim(anyType, 1);
      if (task) return task;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await this.waiters.wait(left);
    }
  }

  /** Marks a task taken with `popTask` as done. */
  taskDone(taskId: string, result?: unknown): void {
    const entry = this.live.get(taskId);
    if (!entry || entry.status !== 'running') throw new TaskNotFoundError(taskId);
    this.complete(entry, result, entry.startedAt ? this.clock.now() - entry.startedAt.getTime() : 0);
  }

  getQueueSize(): number {
    return this.readyCount + this.delayed.size;
  }

  isEmpty(): boolean {
    return this.getQueueSize() === 0;
  }

  /** Tasks handed out and not finished yet. */
  getRunningCount(): number {
    return this.running;
  }

  /** Tasks whose time has come and that wait for a worker. */
  getReadyCount(): number {
    return this.readyCount;
  }

  /** When the earliest delayed task (or retry) is due, epoch ms; null when none waits. */
  nextDelayedAt(): number | null {
    return this.delayed.peek()?.runAt.getTime() ?? null;
  }

  /** Moves delayed tasks that are due by the clock to the ready heaps and wakes consumers (used with a manual clock). */
  promoteDelayed(): number {
    const moved = this.promoteDue();
    this.waiters.wake(moved);
    return moved;
  }

  onIdle(): Promise<void> {
    if (this.live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  getTask(taskId: string): TaskRecord {
    const entry = this.live.get(taskId) ?? this.dead.get(taskId) ?? this.history.get(taskId);
    if (!entry) throw new TaskNotFoundError(taskId);
    return toRecord(entry);
  }

  /** Pending, running, dead and recent finished tasks, newest first; the cursor is an offset. */
  listTasks(filter: ListTasksFilter = {}): TaskPage {
    const limit = filter.limit ?? 100;
    if (!Number.isInteger(limit) || limit <= 0) {
      throw new InvalidArgumentError('limit', `limit must be a positive integer, got ${describeValue(limit)}`);
    }
    const offset = filter.cursor ? Number(filter.cursor) : 0;
    if (!Number.isInteger(offset) || offset < 0) {
      throw new InvalidArgumentError('cursor', `cursor is not one this queue issued, got ${describeValue(filter.cursor)}`);
    }
    const all = [...this.live.values(), ...this.dead.values(), ...this.history.values()]
      .filter((e) => (!filter.status || e.status === filter.status) && (!filter.type || e.type === filter.type))
      .sort((a, b) => b.seq - a.seq);
    const items = all.slice(offset, offset + limit).map(toRecord);
    return { items, nextCursor: offset + limit < all.length ? String(offset + limit) : undefined };
  }

  /** The dead-letter list: tasks whose attempts ran out, with their last error. */
  listDeadTasks(): TaskRecord[] {
    return [...this.dead.values()].map(toRecord);
  }

  countByStatus(): StatusCounts {
    let failed = 0;
    for (const e of this.live.values()) if (e.status === 'failed') failed++;
    return {
      pending: this.live.size - this.running - failed,
      running: this.running,
      failed,
      succeeded: this.finished.succeeded,
      cancelled: this.finished.cancelled,
      dead: this.dead.size,
    };
  }

  /** Queues a dead task again with a fresh attempt count, or runs a failed one (waiting for its retry) now. */
  retryTask(taskId: string): void {
    const waiting = this.live.get(taskId);
    if (waiting?.status === 'failed') {
      this.delayed.removeWhere((e) => e === waiting);
      this.ready.get(waiting.type)?.removeWhere((e) => e === waiting).forEach(() => this.readyCount--);
      this.dead.set(taskId, waiting);
      this.live.delete(taskId);
    }
    const entry = this.dead.get(taskId);
    if (!entry) {
      const known = this.live.get(taskId) ?? this.history.get(taskId);
      if (known) throw new InvalidArgumentError('taskId', `task '${taskId}' is ${known.status}; only dead or failed tasks can be retried`);
      throw new TaskNotFoundError(taskId);
    }
    this.dead.delete(taskId);
    Object.assign(entry, { status: 'pending', attempts: 0, error: undefined, runAt: new Date(this.clock.now()), seq: this.seq++ });
    this.live.set(taskId, entry);
    this.emit('queued', entry);
    this.enqueue(entry);
  }

  cancelTask(taskId: string): boolean {
    const entry = this.live.get(taskId);
    if (!entry) {
      if (this.dead.has(taskId) || this.history.has(taskId)) return false;
      throw new TaskNotFoundError(taskId);
    }
    if (entry.status === 'running') return false;
    const pred = (e: Entry): boolean => e === entry;
    const removedReady = this.ready.get(entry.type)?.removeWhere(pred).length ?? 0;
    this.readyCount -= removedReady;
    this.delayed.removeWhere(pred);
    this.finish(entry, 'cancelled');
    this.emit('cancelled', entry);
    return true;
  }

  // ---- public store ----------------------------------------------------

  setPublic(key: string, value: unknown, ttlSeconds?: number | null): void {
    this.store.set(key, value, ttlSeconds);
  }

  getPublic<T = unknown>(key: string): T | null {
    return this.store.get<T>(key);
  }

  deletePublic(key: string): boolean {
    return this.store.delete(key);
  }

  listKeys(): string[] {
    return this.store.keys();
  }

  getStoreSize(): number {
    return this.store.size();
  }

  clearStore(): void {
    this.store.clear();
  }

  cleanup(): number {
    const removed = this.store.cleanup();
    if (removed > 0) this.logger.debug(`public store: ${removed} expired key(s) removed`);
    return removed;
  }

  startCleanup(): void {
    this.store.startCleanup(
      this.options.store.cleanupIntervalSeconds,
      () => this.cleanup(),
      (err) => this.logger.error('public store cleanup failed', err),
    );
  }

  stopCleanup(): void {
    this.store.stopCleanup();
  }

  // ---- consumers (worker pool) ----------------------------------------

  claim(filter: ClaimFilter, limit: number): Task[] {
    this.promoteDue();
    const claimed: Task[] = [];
    const left = filter.remaining?.size ? new Map(filter.remaining) : undefined;
    while (claimed.length < limit) {
      const heap = this.bestHeap(filter, left);
      const entry = heap?.pop();
      if (!entry) break;
      const slots = left?.get(entry.type);
      if (slots !== undefined) left!.set(entry.type, slots - 1);
      this.readyCount--;
      entry.status = 'running';
      entry.attempts++;
      entry.startedAt = new Date(this.clock.now());
      this.running++;
      this.emit('started', entry);
      claimed.push(entry);
    }
    return claimed;
  }

  waitForWork(filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void> {
    // Work may have arrived between the consumer's empty claim and this call: never sleep past it.
    this.promoteDue();
    if (this.bestHeap(filter)) return Promise.resolve();
    return this.waiters.wait(timeoutMs, signal);
  }

  complete(task: Task, result: unknown, durationMs: number): void {
    const entry = this.runningEntry(task);
    entry.result = result;
    this.running--;
    this.finish(entry, 'succeeded');
    this.emit('succeeded', entry, { durationMs });
  }

  fail(task: Task, error: Error, retryAt: Date | null, durationMs: number): void {
    const entry = this.runningEntry(task);
    this.running--;
    entry.error = error.message;
    if (retryAt) {
      entry.status = 'failed';
      entry.runAt = retryAt;
      entry.seq = this.seq++;
      this.emit('retrying', entry, { durationMs, error: error.message, retryAt });
      this.enqueue(entry);
      return;
    }
    this.live.delete(entry.taskId);
    entry.status = 'dead';
    entry.completedAt = new Date(this.clock.now());
    this.dead.set(entry.taskId, entry);
    this.emit('dead', entry, { durationMs, error: error.message });
    this.checkIdle();
  }

  release(task: Task): void {
    const entry = this.runningEntry(task);
    this.running--;
    entry.attempts--;
    entry.status = 'pending';
    entry.startedAt = undefined;
    this.enqueue(entry);
  }

  // ---- internals -------------------------------------------------------

  private runningEntry(task: Task): Entry {
    const entry = this.live.get(task.taskId);
    if (!entry || entry.status !== 'running') throw new TaskNotFoundError(task.taskId);
    return entry;
  }

  private enqueue(entry: Entry): void {
    if (entry.runAt.getTime() > this.clock.now()) {
      this.delayed.push(entry);
      this.armDelayTimer();
      return;
    }
    this.makeReady(entry);
    this.waiters.wakeOne();
  }

  private makeReady(entry: Entry): void {
    let heap = this.ready.get(entry.type);
    if (!heap) {
      heap = new BinaryHeap<Entry>(byPriority);
      this.ready.set(entry.type, heap);
    }
    heap.push(entry);
    this.readyCount++;
  }

  /** The per-type heap whose head should run next among the types this consumer may take. O(types). */
  private bestHeap(filter: ClaimFilter, left?: ReadonlyMap<string, number>): BinaryHeap<Entry> | undefined {
    let best: BinaryHeap<Entry> | undefined;
    let bestHead: Entry | undefined;
    const consider = (heap: BinaryHeap<Entry> | undefined): void => {
      const head = heap?.peek();
      if (head && (!bestHead || byPriority(head, bestHead)) && left?.get(head.type) !== 0) {
        best = heap;
        bestHead = head;
      }
    };
    if (filter.unknownTypes) {
      for (const [type, heap] of this.ready) {
        if (!filter.handled.has(type) || filter.types.includes(type)) consider(heap);
      }
    } else {
      for (const type of filter.types) consider(this.ready.get(type));
    }
    return best;
  }

  private promoteDue(): number {
    const now = this.clock.now();
    let moved = 0;
    for (let head = this.delayed.peek(); head && head.runAt.getTime() <= now; head = this.delayed.peek()) {
      this.makeReady(this.delayed.pop()!);
      moved++;
    }
    return moved;
  }

  private armDelayTimer(): void {
    const head = this.delayed.peek();
    // a manual clock's owner promotes delayed tasks when it moves time (promoteDelayed)
    if (!head || this.clock.manual) return this.clearDelayTimer();
    const at = head.runAt.getTime();
    if (this.delayTimer && at >= this.delayTimerAt) return;
    this.clearDelayTimer();
    this.delayTimerAt = at;
    // Node fires delays above 2^31-1 ms at once: re-arm in steps instead.
    const wait = Math.min(Math.max(0, at - this.clock.now()), MAX_TIMER_MS);
    this.delayTimer = setTimeout(() => {
      this.delayTimer = undefined;
      this.delayTimerAt = Infinity;
      this.waiters.wake(this.promoteDue());
      this.armDelayTimer();
    }, wait);
    this.delayTimer.unref();
  }

  private clearDelayTimer(): void {
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
    this.delayTimerAt = Infinity;
  }

  private finish(entry: Entry, status: 'succeeded' | 'cancelled'): void {
    this.live.delete(entry.taskId);
    entry.status = status;
    entry.completedAt = new Date(this.clock.now());
    this.finished[status]++;
    this.history.set(entry.taskId, entry);
    if (this.history.size > this.options.queue.historySize) {
      this.history.delete(this.history.keys().next().value as string);
    }
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.live.size > 0 || this.idleWaiters.length === 0) return;
    const waiting = this.idleWaiters.splice(0);
    for (const resolve of waiting) resolve();
  }

  private emit(kind: TaskEventKind, entry: Entry, extra?: Partial<TaskEvent>): void {
    if (!this.events.observed) return;
    this.events.next({
      kind,
      taskId: entry.taskId,
      type: entry.type,
      attempt: entry.attempts,
      at: new Date(this.clock.now()),
      schedulerTaskId: entry.schedulerTaskId,
      scheduledAt: entry.scheduledAt,
      ...extra,
    });
  }
}

function toRecord(entry: Entry): TaskRecord {
  const { seq: _seq, ...record } = entry;
  return { ...record, status: entry.status as TaskStatus };
}
