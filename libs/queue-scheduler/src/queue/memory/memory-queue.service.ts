import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import { type Clock, QUEUE_SCHEDULER_CLOCK, systemClock } from '../../clock';
import { TaskNotFoundError, InvalidArgumentError } from '../../errors/errors';
import type { ResolvedOptions } from '../../interfaces/options.interface';
import type { PushTaskInput, Task, TaskEventKind, TaskRecord } from '../../interfaces/task.interface';
import { RESOLVED_OPTIONS } from '../../queue-scheduler.constants';
import { LibraryLogger } from '../../queue-scheduler.logger';
import { MemoryPublicStore } from './memory-public-store';
import { inactiveQueue } from '../inactive-queue';
import { MemoryEntry, toRecord } from './memory-entries';
import { MemoryTasks } from './memory-tasks';
import { type ListTasksFilter, type StatusCounts, TaskQueue, type TaskPage } from '../task-queue';
import { type ClaimFilter, type OccurrenceClaim, type QueueCapabilities, QueueConsumer, pushAfterClaim } from '../queue-consumer';
import { type NormalizedTask, normalizeBatch, normalizePush } from '../task-validation';
import { WaitingTasks } from './waiting-tasks';

const ANY_TYPE: ClaimFilter = { types: [], unknownTypes: true, handled: new Set() };

/** The seed's synchronous store API: TaskQueue's one store facade, typed as the memory store answers (at once). */
export interface MemoryQueueService {
  setPublic(key: string, value: unknown, ttlSeconds?: number | null): void;
  getPublic<T = unknown>(key: string): T | null;
  deletePublic(key: string): boolean;
  listKeys(): string[];
  getStoreSize(): number;
  clearStore(): void;
  cleanup(): number;
}

/**
 * The in-process backend: ready tasks by type and priority (lower number
 * first, FIFO within one), a heap of delayed tasks by run time, and the
 * public store. Tasks live only as long as the process. The seed system's
 * API (`pushTask`, `popTask`, `taskDone`, `setPublic`, …) is kept as is.
 * With `queue.backend` other than 'memory' every method throws
 * InvalidOptionsError: inject `TaskQueue`, which works on every backend.
 * @publicApi
 */
@Injectable()
export class MemoryQueueService extends TaskQueue implements QueueConsumer, OnApplicationBootstrap, OnModuleDestroy {
  readonly capabilities: QueueCapabilities = { durable: false, soleConsumer: true, claimsOverlapWrites: true };
  protected readonly logger: LibraryLogger;
  protected readonly store: MemoryPublicStore;
  private readonly waiting: WaitingTasks;
  /** Every task still known (unfinished, and the bounded history): by id, in push order, counted by status. */
  private readonly tasks: MemoryTasks;
  private readonly newId = (): string => this.tasks.newId();
  private readonly idleWaiters: Array<() => void> = [];
  /** false on another backend: the proxy the constructor returns refuses every call, and no timer starts. */
  private readonly active: boolean;

  constructor(
    @Inject(RESOLVED_OPTIONS) protected readonly options: ResolvedOptions,
    @Optional() @Inject(QUEUE_SCHEDULER_CLOCK) private readonly clock: Clock = systemClock,
  ) {
    super();
    this.logger = new LibraryLogger(MemoryQueueService.name, options.logLevel);
    this.store = new MemoryPublicStore(() => this.clock.now(), options.store.maxValueBytes);
    this.waiting = new WaitingTasks(this.clock);
    this.tasks = new MemoryTasks(options.queue.historySize);
    this.active = options.queue.backend === 'memory';
    // the module never builds it on another backend (it provides an inactive stand-in); a direct `new` gets the same
    if (!this.active) return inactiveQueue(MemoryQueueService, options.queue.backend);
  }

  override now(): number {
    return this.clock.now();
  }

  onApplicationBootstrap(): void {
    if (this.active && this.options.autoStart) this.startCleanup();
  }

  onModuleDestroy(): void {
    if (!this.active) return;
    this.stopCleanup();
    this.waiting.stop();
    this.taskEvents.complete();
  }

  /** Sweeps expired store keys every store.cleanupIntervalSeconds (reads never see them anyway; this frees memory). */
  startCleanup(): void {
    this.store.startCleanup(
      this.options.store.cleanupIntervalSeconds,
      () => {
        const removed = this.cleanup();
        if (removed > 0) this.logger.debug(`public store: ${removed} expired key(s) removed`);
      },
      (err) => this.logger.error('public store cleanup failed', err),
    );
  }

  stopCleanup(): void {
    this.store.stopCleanup();
  }

  // ---- producers -------------------------------------------------------

  pushTask<P>(input: PushTaskInput<P>): string {
    const now = this.clock.now();
    const task = normalizePush(input, this.options.queue.maxPayloadBytes, now, this.newId);
    return this.add(task, now, task.generatedId ? this.tasks.lastIdSeq : -1);
  }

  /**
   * Pushes several tasks, in order, each with pushTask's dedupe rule. Every
   * input is validated before the first is queued, so a bad one queues none.
   */
  pushTasks<P>(inputs: PushTaskInput<P>[]): string[] {
    const now = this.clock.now();
    const seqs: number[] = [];
    const tasks = normalizeBatch(inputs, (input) => {
      const task = normalizePush(input, this.options.queue.maxPayloadBytes, now, this.newId);
      seqs.push(task.generatedId ? this.tasks.lastIdSeq : -1);
      return task;
    });
    return tasks.map((task, i) => this.add(task, now, seqs[i]));
  }

  /** Queues a validated task; `idSeq` is the counter of an id the index made for it, or -1. */
  private add(task: NormalizedTask, now: number, idSeq: number): string {
    // an id made for this push is new: no lookup
    if (!task.generatedId) {
      const known = this.tasks.get(task.taskId);
      if (known && isUnfinished(known)) return task.taskId;
      if (known) this.tasks.supersede(known);
    }
    const entry = new MemoryEntry(task, now, idSeq, this);
    this.tasks.add(entry);
    this.emit('queued', entry);
    this.waiting.add(entry, now);
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
      await this.waiting.wait(left);
    }
  }

  /** Marks a task taken with `popTask` as done. */
  taskDone(taskId: string, result?: unknown): void {
    const entry = this.tasks.get(taskId);
    if (!entry || entry.status !== 'running') throw new TaskNotFoundError(taskId);
    this.complete(entry, result, Number.isNaN(entry.startedAtMs) ? 0 : this.clock.now() - entry.startedAtMs);
  }

  getQueueSize(): number {
    return this.waiting.size;
  }

  isEmpty(): boolean {
    return this.getQueueSize() === 0;
  }

  /** Tasks handed out and not finished yet. */
  getRunningCount(): number {
    return this.tasks.running;
  }

  /** Tasks whose time has come and that wait for a worker. */
  getReadyCount(): number {
    return this.waiting.readyCount;
  }

  /** When the earliest delayed task (or retry) is due, epoch ms; null when none waits. */
  nextDelayedAt(): number | null {
    return this.waiting.earliest();
  }

  /** Moves delayed tasks that are due by the clock to the ready queues and wakes consumers (used with a manual clock). */
  promoteDelayed(): number {
    return this.waiting.promote();
  }

  onIdle(): Promise<void> {
    if (this.tasks.unfinished === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // ---- status API: unfinished tasks, and the last queue.historySize finished and dead ones ----

  getTask(taskId: string): TaskRecord {
    const entry = this.tasks.get(taskId);
    if (!entry) throw new TaskNotFoundError(taskId);
    return toRecord(entry);
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

  /** Queues a dead task again with a fresh attempt count, or runs a failed one (waiting for its retry) now. */
  retryTask(taskId: string): void {
    const entry = this.tasks.get(taskId);
    if (!entry) throw new TaskNotFoundError(taskId);
    if (entry.status !== 'dead' && entry.status !== 'failed') {
      throw new InvalidArgumentError('taskId', `task '${taskId}' is ${entry.status}; only dead or failed tasks can be retried`);
    }
    if (entry.status === 'failed') this.waiting.remove(entry);
    const now = this.clock.now();
    entry.attempts = 0;
    entry.error = undefined;
    entry.runAtMs = now;
    this.tasks.requeue(entry, 'pending');
    this.emit('queued', entry);
    this.waiting.add(entry, now);
  }

  cancelTask(taskId: string): boolean {
    const entry = this.tasks.get(taskId);
    if (!entry) throw new TaskNotFoundError(taskId);
    if (entry.status !== 'pending' && entry.status !== 'failed') return false;
    this.waiting.remove(entry);
    this.finish(entry, 'cancelled', this.clock.now());
    this.emit('cancelled', entry);
    return true;
  }

  // ---- consumers (worker pool) ----------------------------------------

  pushClaimed(claim: OccurrenceClaim): Promise<string[] | null> {
    return pushAfterClaim((input) => this.pushTask(input), claim);
  }

  claim(filter: ClaimFilter, limit: number): Task[] {
    const claimed: MemoryEntry[] = [];
    this.waiting.take(filter, limit, claimed);
    if (claimed.length === 0) return claimed;
    const now = this.clock.now();
    for (let i = 0; i < claimed.length; i++) {
      const entry = claimed[i];
      this.tasks.setStatus(entry, 'running');
      entry.attempts++;
      entry.startedAtMs = now;
      this.emit('started', entry);
    }
    return claimed;
  }

  waitForWork(filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void> {
    // Work may have arrived between the consumer's empty claim and this call: never sleep past it.
    if (this.waiting.has(filter)) return Promise.resolve();
    return this.waiting.wait(timeoutMs, signal);
  }

  complete(task: Task, result: unknown, durationMs: number): void {
    const entry = this.runningEntry(task);
    entry.result = result;
    // the start time plus the run time: the clock is not read again for every task
    this.finish(entry, 'succeeded', entry.startedAtMs + durationMs);
    this.emit('succeeded', entry, durationMs);
  }

  fail(task: Task, error: Error, retryAt: Date | null, durationMs: number): void {
    const entry = this.runningEntry(task);
    entry.error = error.message;
    if (retryAt) {
      entry.runAtMs = retryAt.getTime();
      this.tasks.requeue(entry, 'failed');
      this.emit('retrying', entry, durationMs, error.message, retryAt);
      this.waiting.add(entry);
      return;
    }
    this.finish(entry, 'dead', this.clock.now());
    this.emit('dead', entry, durationMs, error.message);
  }

  release(task: Task): void {
    const entry = this.runningEntry(task);
    entry.attempts--;
    this.tasks.setStatus(entry, 'pending');
    entry.startedAtMs = NaN;
    this.waiting.giveBack(entry);
  }

  // ---- internals -------------------------------------------------------

  /** The entry a consumer holds: the task object claim handed out is the entry itself, so no lookup by id is needed. */
  private runningEntry(task: Task): MemoryEntry {
    const entry = task as MemoryEntry;
    if (entry.owner !== this || entry.status !== 'running') throw new TaskNotFoundError(task.taskId);
    return entry;
  }

  private finish(entry: MemoryEntry, status: 'succeeded' | 'cancelled' | 'dead', at: number): void {
    entry.completedAtMs = at;
    this.tasks.finish(entry, status);
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.tasks.unfinished > 0 || this.idleWaiters.length === 0) return;
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
