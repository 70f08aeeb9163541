import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import { type Clock, QUEUE_SCHEDULER_CLOCK, systemClock } from '../clock';
import { TaskNotFoundError, describeValue, InvalidArgumentError, InvalidTaskError } from '../errors/errors';
import type { ResolvedOptions } from '../interfaces/options.interface';
import type { PushTaskInput, Task, TaskEventKind, TaskRecord } from '../interfaces/task.interface';
import { RESOLVED_OPTIONS } from '../queue-scheduler.constants';
import { LibraryLogger } from '../queue-scheduler.logger';
import { MemoryPublicStore } from '../store/memory-public-store';
import { DelayedTasks } from './delayed-tasks';
import { FinishedTasks, type MemoryEntry, OWNER, toRecord } from './memory-entries';
import { ReadyTasks } from './ready-tasks';
import { TaskIndex } from './task-index';
import { type ClaimFilter, type ListTasksFilter, type StatusCounts, TaskQueue, type TaskPage } from './task-queue';
import { type NormalizedTask, normalizePush } from './task-validation';
import { Waiters } from './waiters';

const ANY_TYPE: ClaimFilter = { types: [], unknownTypes: true, handled: new Set() };

/**
 * The in-process backend: ready tasks by type and priority (lower number
 * first, FIFO within one), a heap of delayed tasks by run time, and the
 * public store. Tasks live only as long as the process. The seed system's
 * API (`pushTask`, `popTask`, `taskDone`, `setPublic`, …) is kept as is.
 * @publicApi
 */
@Injectable()
export class MemoryQueueService extends TaskQueue implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger: LibraryLogger;
  private readonly store: MemoryPublicStore;
  private readonly ready = new ReadyTasks();
  private readonly delayed: DelayedTasks<MemoryEntry>;
  /**
   * Unfinished tasks (the dedupe index) and the last queue.historySize
   * finished ones, by id: one map, so finishing a task moves nothing
   * between maps; `history` decides when a finished one is forgotten.
   */
  private readonly tasks = new TaskIndex<MemoryEntry>();
  private readonly newId = (): string => this.tasks.newId();
  private readonly readyUp = (entry: MemoryEntry): void => this.makeReady(entry);
  private readonly history: FinishedTasks;
  private readonly dead = new Map<string, MemoryEntry>();
  /** Pending, failed (waiting for a retry) and running tasks. */
  private unfinished = 0;
  private failed = 0;
  private readonly waiters = new Waiters();
  private readonly idleWaiters: Array<() => void> = [];
  private succeeded = 0;
  private cancelled = 0;
  private seq = 0;
  private readyOrder = 0;
  private running = 0;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    @Optional() @Inject(QUEUE_SCHEDULER_CLOCK) private readonly clock: Clock = systemClock,
  ) {
    super();
    this.logger = new LibraryLogger(MemoryQueueService.name, options.logLevel);
    this.store = new MemoryPublicStore(() => this.clock.now());
    this.delayed = new DelayedTasks(this.clock, () => this.waiters.wake(this.promoteDue()));
    this.history = new FinishedTasks(options.queue.historySize, (gone) => {
      this.tasks.delete(gone);
    });
  }

  override now(): number {
    return this.clock.now();
  }

  onApplicationBootstrap(): void {
    if (this.options.autoStart) this.startCleanup();
  }

  onModuleDestroy(): void {
    this.stopCleanup();
    this.delayed.clearTimer();
    this.waiters.wakeAll();
    this.taskEvents.complete();
  }

  // ---- producers -------------------------------------------------------

  pushTask<P>(input: PushTaskInput<P>): string {
    const now = this.clock.now();
    const task = normalizePush(input, this.options.queue.maxPayloadBytes, now, this.newId);
    return this.add(task, now, task.generatedId ? this.tasks.lastSeq : -1);
  }

  /**
   * Pushes several tasks, in order, each with pushTask's dedupe rule. Every
   * input is validated before the first is queued, so a bad one queues none.
   */
  pushTasks<P>(inputs: PushTaskInput<P>[]): string[] {
    if (!Array.isArray(inputs)) throw new InvalidArgumentError('inputs', `inputs must be an array of tasks, got ${describeValue(inputs)}`);
    const now = this.clock.now();
    const seqs: number[] = [];
    const tasks = inputs.map((input, i) => {
      try {
        const task = normalizePush(input, this.options.queue.maxPayloadBytes, now, this.newId);
        seqs.push(task.generatedId ? this.tasks.lastSeq : -1);
        return task;
      } catch (err) {
        if (err instanceof InvalidTaskError) throw new InvalidTaskError(`inputs[${i}].${err.field}`, `inputs[${i}]: ${err.message}`);
        throw err;
      }
    });
    return tasks.map((task, i) => this.add(task, now, seqs[i]));
  }

  /** Queues a validated task; `idSeq` is the counter of an id the index made for it, or -1. */
  private add(task: NormalizedTask, now: number, idSeq: number): string {
    // an id made for this push is new: no lookup
    if (!task.generatedId) {
      const known = this.tasks.get(task.taskId);
      if (known && isUnfinished(known)) return task.taskId;
      if (known) known.superseded = true;
      this.dead.delete(task.taskId);
    }
    const entry: MemoryEntry = {
      taskId: task.taskId,
      type: task.type,
      params: task.params,
      priority: task.priority,
      runAt: task.runAt,
      runAtMs: task.runAt.getTime(),
      attempts: 0,
      maxRetries: task.maxRetries,
      schedulerTaskId: task.schedulerTaskId,
      scheduledAt: task.scheduledAt,
      createdAt: new Date(now),
      status: 'pending',
      seq: this.seq++,
      order: 0,
      startedAtMs: NaN,
      completedAtMs: NaN,
      superseded: false,
      idSeq,
      // every field an entry will get is given here: one added later grows a property array per entry, kept alive by it
      result: undefined,
      error: undefined,
      [OWNER]: this,
    };
    this.tasks.set(entry);
    this.unfinished++;
    this.emit('queued', entry);
    this.enqueue(entry, now);
    return entry.taskId;
  }

  /** Takes the next ready task (any type), waiting up to `timeoutMs` for one; null on timeout. Call `taskDone` after. */
  async popTask(timeoutMs = 0): Promise<Task | null> {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    for (;;) {
      const [task] = this.claim(ANY_TYPE, 1);
      if (task) return task;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await this.waiters.wait(left);
    }
  }

  /** Marks a task taken with `popTask` as done. */
  taskDone(taskId: string, result?: unknown): void {
    const entry = this.tasks.get(taskId);
    if (!entry || entry.status !== 'running') throw new TaskNotFoundError(taskId);
    this.complete(entry, result, Number.isNaN(entry.startedAtMs) ? 0 : this.clock.now() - entry.startedAtMs);
  }

  getQueueSize(): number {
    return this.ready.size + this.delayed.size;
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
    return this.ready.size;
  }

  /** When the earliest delayed task (or retry) is due, epoch ms; null when none waits. */
  nextDelayedAt(): number | null {
    return this.delayed.earliest();
  }

  /** Moves delayed tasks that are due by the clock to the ready queues and wakes consumers (used with a manual clock). */
  promoteDelayed(): number {
    const moved = this.promoteDue();
    this.waiters.wake(moved);
    return moved;
  }

  onIdle(): Promise<void> {
    if (this.unfinished === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  getTask(taskId: string): TaskRecord {
    const entry = this.tasks.get(taskId) ?? this.dead.get(taskId);
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
    const all = [...this.tasks.values(), ...this.dead.values()]
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
    return {
      pending: this.unfinished - this.running - this.failed,
      running: this.running,
      failed: this.failed,
      succeeded: this.succeeded,
      cancelled: this.cancelled,
      dead: this.dead.size,
    };
  }

  /** Queues a dead task again with a fresh attempt count, or runs a failed one (waiting for its retry) now. */
  retryTask(taskId: string): void {
    const waiting = this.tasks.get(taskId);
    if (waiting?.status === 'failed') {
      this.unqueue(waiting);
      this.failed--;
      this.unfinished--;
      this.tasks.delete(waiting);
      this.dead.set(taskId, waiting);
    }
    const entry = this.dead.get(taskId);
    if (!entry) {
      const known = this.tasks.get(taskId);
      if (known) throw new InvalidArgumentError('taskId', `task '${taskId}' is ${known.status}; only dead or failed tasks can be retried`);
      throw new TaskNotFoundError(taskId);
    }
    this.dead.delete(taskId);
    const now = this.clock.now();
    Object.assign(entry, { status: 'pending', attempts: 0, error: undefined, runAt: new Date(now), runAtMs: now, seq: this.seq++ });
    this.tasks.set(entry);
    this.unfinished++;
    this.emit('queued', entry);
    this.enqueue(entry);
  }

  cancelTask(taskId: string): boolean {
    const entry = this.tasks.get(taskId);
    if (!entry || !isUnfinished(entry)) {
      if (entry || this.dead.has(taskId)) return false;
      throw new TaskNotFoundError(taskId);
    }
    if (entry.status === 'running') return false;
    this.unqueue(entry);
    if (entry.status === 'failed') this.failed--;
    this.finish(entry, 'cancelled', this.clock.now());
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
    const claimed: MemoryEntry[] = [];
    if (this.ready.size === 0) return claimed;
    const left = filter.remaining?.size ? new Map(filter.remaining) : undefined;
    this.ready.takeMany(filter, this.ready.typesOf(filter), left, limit, claimed);
    const now = this.clock.now();
    for (let i = 0; i < claimed.length; i++) {
      const entry = claimed[i];
      if (entry.status === 'failed') this.failed--;
      entry.status = 'running';
      entry.attempts++;
      entry.startedAtMs = now;
      this.emit('started', entry);
    }
    this.running += claimed.length;
    return claimed;
  }

  waitForWork(filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void> {
    // Work may have arrived between the consumer's empty claim and this call: never sleep past it.
    this.promoteDue();
    if (this.ready.has(filter)) return Promise.resolve();
    return this.waiters.wait(timeoutMs, signal);
  }

  complete(task: Task, result: unknown, durationMs: number): void {
    const entry = this.runningEntry(task);
    entry.result = result;
    this.running--;
    // the start time plus the run time: the clock is not read again for every task
    this.finish(entry, 'succeeded', entry.startedAtMs + durationMs);
    this.emit('succeeded', entry, durationMs);
  }

  fail(task: Task, error: Error, retryAt: Date | null, durationMs: number): void {
    const entry = this.runningEntry(task);
    this.running--;
    entry.error = error.message;
    if (retryAt) {
      this.failed++;
      entry.status = 'failed';
      entry.runAt = retryAt;
      entry.runAtMs = retryAt.getTime();
      entry.seq = this.seq++;
      this.emit('retrying', entry, durationMs, error.message, retryAt);
      this.enqueue(entry);
      return;
    }
    this.tasks.delete(entry);
    this.unfinished--;
    entry.status = 'dead';
    entry.completedAtMs = this.clock.now();
    this.dead.set(entry.taskId, entry);
    this.emit('dead', entry, durationMs, error.message);
    this.checkIdle();
  }

  release(task: Task): void {
    const entry = this.runningEntry(task);
    this.running--;
    entry.attempts--;
    entry.status = 'pending';
    entry.startedAtMs = NaN;
    // given back at the front: it was taken first, it goes first again
    if (entry.runAtMs > this.clock.now()) return this.delayed.add(entry);
    this.ready.unshift(entry);
    this.waiters.wakeOne();
  }

  // ---- internals -------------------------------------------------------

  /** The entry a consumer holds: the task object claim handed out is the entry itself, so no lookup by id is needed. */
  private runningEntry(task: Task): MemoryEntry {
    const entry = task as MemoryEntry;
    if (entry[OWNER] !== this || entry.status !== 'running') throw new TaskNotFoundError(task.taskId);
    return entry;
  }


  private enqueue(entry: MemoryEntry, now = this.clock.now()): void {
    if (entry.runAtMs > now) return this.delayed.add(entry);
    this.makeReady(entry);
    this.waiters.wakeOne();
  }

  private makeReady(entry: MemoryEntry): void {
    entry.order = this.readyOrder++;
    this.ready.push(entry);
  }

  /** Takes a waiting (pending or failed) task out of the ready or delayed queue. */
  private unqueue(entry: MemoryEntry): void {
    if (!this.ready.remove(entry)) this.delayed.remove(entry);
  }

  private promoteDue(): number {
    // every claim calls this: no closure made per call, and nothing but a size check when nothing is delayed
    return this.delayed.size === 0 ? 0 : this.delayed.takeDue(this.readyUp);
  }

  private finish(entry: MemoryEntry, status: 'succeeded' | 'cancelled', at: number): void {
    this.unfinished--;
    entry.status = status;
    entry.completedAtMs = at;
    if (status === 'succeeded') this.succeeded++;
    else this.cancelled++;
    this.history.add(entry);
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.unfinished > 0 || this.idleWaiters.length === 0) return;
    const waiting = this.idleWaiters.splice(0);
    for (const resolve of waiting) resolve();
  }

  private emit(kind: TaskEventKind, entry: MemoryEntry, durationMs?: number, error?: string, retryAt?: Date): void {
    this.taskEvents.emit(kind, entry, durationMs, error, retryAt);
  }
}

function isUnfinished(entry: MemoryEntry): boolean {
  return entry.status === 'pending' || entry.status === 'running' || entry.status === 'failed';
}
