import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import { type Clock, QUEUE_SCHEDULER_CLOCK, systemClock } from '../../clock';
import { QueueClosedError, TaskNotFoundError } from '../../errors/errors';
import type { ResolvedOptions } from '../../interfaces/options.interface';
import type { PushTaskInput, Task, TaskEventKind, TaskProgress } from '../../interfaces/task.interface';
import { RESOLVED_OPTIONS } from '../../queue-scheduler.constants';
import { LibraryLogger } from '../../queue-scheduler.logger';
import { MemoryPublicStore } from './memory-public-store';
import { inactiveQueue } from '../inactive-queue';
import { isUnfinished, MemoryEntry } from './memory-entries';
import { MemoryQueueStatus } from './memory-queue-status';
import { isPlain, PlainPush, PlainPushes, plainParams } from './plain-pushes';
import { type ClaimFilter, type OccurrenceClaim, type QueueCapabilities, QueueConsumer, pushAfterClaim } from '../queue-consumer';
import { type NormalizedTask, normalizeBatch, normalizePush, popTimeout, type SingletonRule } from '../task-validation';
import { SingletonSlots } from './singleton-slots';
import { IdleWaiters } from '../idle-waiters';
import { type QueueTracing, tracingFor } from '../../tracing/queue-tracing';
import { storableResult } from '../../workers/storable-outcome';

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
 * Its sizes, status reads, retry and cancel are MemoryQueueStatus's; this
 * class holds what runs once per task (push, claim, outcomes).
 * @publicApi
 */
@Injectable()
export class MemoryQueueService extends MemoryQueueStatus implements QueueConsumer, OnApplicationBootstrap, OnModuleDestroy {
  readonly capabilities: QueueCapabilities = { durable: false, soleConsumer: true, claimsOverlapWrites: true };
  protected readonly logger: LibraryLogger;
  protected readonly store: MemoryPublicStore;
  private readonly newId = (): string => this.tasks.newId();
  /** What pushTask validates into and MemoryEntry copies from at once: no object per push beside the entry. */
  private readonly scratch = normalizePush({ type: 'scratch' }, Infinity, 0, () => 'scratch');
  private readonly idle = new IdleWaiters(this.taskEvents);
  private readonly singletons = new SingletonSlots(this.tasks, this.waiting);
  private readonly plain = new PlainPushes(this.tasks, this.waiting, this.taskEvents, this, (entry, now) => this.queue(entry, now, true));
  /** false on another backend: the proxy the constructor returns refuses every call, and no timer starts. */
  private readonly active: boolean;
  private readonly tracing: QueueTracing | undefined;

  constructor(
    @Inject(RESOLVED_OPTIONS) protected readonly options: ResolvedOptions,
    @Optional() @Inject(QUEUE_SCHEDULER_CLOCK) clock: Clock = systemClock,
  ) {
    super(clock, options.queue.historySize);
    this.logger = new LibraryLogger(MemoryQueueService.name, options.logLevel);
    this.store = new MemoryPublicStore(() => this.clock.now(), options.store.maxValueBytes);
    this.active = options.queue.backend === 'memory';
    this.tracing = tracingFor(options);
    // the module never builds it on another backend (it provides an inactive stand-in); a direct `new` gets the same
    if (!this.active) return inactiveQueue(MemoryQueueService, options.queue.backend);
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

  pushTask<P>(input: PushTaskInput<P>): string {
    const now = this.clock.now();
    const task = normalizePush(input, this.options.queue.maxPayloadBytes, now, this.newId, this.scratch);
    const idSeq = task.generatedId ? this.tasks.lastIdSeq : -1;
    if (this.tracing === undefined && isPlain(task, now, idSeq)) return this.plain.push(task.taskId, task.type, plainParams(task), task.priority, idSeq, now);
    return this.add(task, now, idSeq);
  }

  /** Pushes several tasks, in order, each with pushTask's dedupe rule; all are validated before the first is queued, so a bad one queues none. */
  pushTasks<P>(inputs: PushTaskInput<P>[]): string[] {
    const now = this.clock.now();
    // a push with no key and no tracing becomes its entry (or a plain one its PlainPush) as it is validated: no normalised object per input
    const untraced = this.tracing === undefined;
    const tasks = normalizeBatch(inputs, (input): PlainPush | MemoryEntry | (NormalizedTask & { idSeq: number }) => {
      const task = normalizePush(input, this.options.queue.maxPayloadBytes, now, this.newId, this.scratch);
      const idSeq = task.generatedId ? this.tasks.lastIdSeq : -1;
      if (untraced && isPlain(task, now, idSeq)) return new PlainPush(task.taskId, task.type, plainParams(task), task.priority, idSeq);
      return untraced && task.singleton === undefined ? new MemoryEntry(task, now, idSeq, this) : { ...task, idSeq };
    });
    // an entry's idSeq is -1 for a given id (or for a made one past the counter's range: looked up for nothing)
    return tasks.map((t) => (t instanceof PlainPush ? this.plain.push(t.taskId, t.type, t.params, t.priority, t.idSeq, now) : t instanceof MemoryEntry ? (this.queue(t, now, t.idSeq >= 0) ?? t.taskId) : this.add(t, now, t.idSeq)));
  }

  /** Queues a validated task (`idSeq`: its made id's counter, or -1); `task` may be the scratch object, not read once the entry is built. */
  private add(task: NormalizedTask, now: number, idSeq: number): string {
    if (this.tracing !== undefined) task.traceContext = this.tracing.pushed(task);
    if (task.singleton !== undefined) return this.addSingleton(task, task.singleton, now, idSeq);
    return this.queue(new MemoryEntry(task, now, idSeq, this), now, task.generatedId) ?? task.taskId;
  }

  /** The key's rule first; an accepted push then keeps the id rule, and takes the key only if it was queued. */
  private addSingleton(task: NormalizedTask, rule: SingletonRule, now: number, idSeq: number): string {
    const standing = this.singletons.standing(task, rule, now);
    if (standing !== undefined) {
      this.logger.debug(`push of type '${task.type}' ${rule.mode === 'debounce' ? 'folded into' : 'dropped for'} task ${standing}, which holds ${rule.mode} key '${rule.key}'`);
      return standing;
    }
    const taskId = this.queue(new MemoryEntry(task, now, idSeq, this), now, task.generatedId);
    if (taskId !== undefined) this.singletons.accepted(rule.key, taskId, now);
    return taskId ?? task.taskId;
  }

  /** Queues a new entry and returns its id; undefined when a task of its id is still pending or running (nothing queued). */
  private queue(entry: MemoryEntry, now: number, generatedId: boolean): string | undefined {
    // an id made for this push is new: no lookup
    if (!generatedId) {
      const known = this.tasks.get(entry.taskId);
      if (known && isUnfinished(known)) return undefined;
      if (known) this.flows.supersede(known);
    }
    this.tasks.add(entry);
    this.emit('queued', entry);
    this.waiting.add(entry, now);
    return entry.taskId;
  }

  /** Takes the next ready task (any type), waiting up to `timeoutMs` for one; null on timeout. Call `taskDone` after. */
  async popTask(timeoutMs = 0): Promise<Task | null> {
    const deadline = Date.now() + popTimeout(timeoutMs);
    for (;;) {
      const [task] = this.claim(ANY_TYPE, 1);
      if (task) return task;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      if (!(await this.waiting.waitHeld(left))) throw new QueueClosedError(undefined, 'popTask stopped waiting: the queue closed with the app');
    }
  }

  /** Marks a task taken with `popTask` as done; its result is kept as a handler's is (one refused throws, the task still running). */
  taskDone(taskId: string, result?: unknown): void {
    const entry = this.tasks.get(taskId);
    if (!entry || entry.status !== 'running') throw new TaskNotFoundError(taskId);
    this.complete(entry, storableResult(result, this.options.queue.maxResultBytes), Number.isNaN(entry.startedAtMs) ? 0 : this.clock.now() - entry.startedAtMs);
  }

  onIdle(): Promise<void> {
    return this.idle.wait(this.tasks.unfinished === 0);
  }

  // ---- consumers (worker pool) ----------------------------------------

  pushClaimed(claim: OccurrenceClaim): Promise<string[] | null> {
    return pushAfterClaim((input) => this.pushTask(input), claim, (root) => this.flows.pushInput(root, true).taskId);
  }

  claim(filter: ClaimFilter, limit: number): Task[] {
    const claimed: MemoryEntry[] = [];
    this.waiting.take(this.claimable(filter, limit), limit, claimed);
    if (claimed.length === 0) return claimed;
    const now = this.clock.now();
    if (filter.rateLimits !== undefined) this.rates.took(claimed, filter.rateLimits, now);
    for (let i = 0; i < claimed.length; i++) {
      const entry = claimed[i];
      this.tasks.start(entry);
      entry.attempts++;
      entry.startedAtMs = now;
      this.emit('started', entry);
    }
    return claimed;
  }

  waitForWork(filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void> {
    // Work may have arrived between the consumer's empty claim and this call: never sleep past it.
    if (this.waiting.has(this.claimable(filter, 1))) return Promise.resolve();
    // a type held back by its rate limit is due again when its window ends
    const untilWindow = filter.rateLimits === undefined ? Infinity : Math.max(1, this.rates.wakeAt - this.clock.now());
    return this.waiting.wait(Math.min(timeoutMs, untilWindow), signal);
  }

  complete(task: Task, result: unknown, durationMs: number): void {
    const entry = this.runningEntry(task);
    entry.result = result;
    // the start time plus the run time: the clock is not read again for every task
    this.finish(entry, 'succeeded', entry.startedAtMs + durationMs);
    this.emit('succeeded', entry, durationMs);
  }

  fail(task: Task, error: Error, retryAt: Date | null, durationMs: number | undefined): void {
    const entry = this.runningEntry(task);
    this.recordFailure(entry, error, retryAt !== null, entry.startedAtMs + (durationMs ?? 0));
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

  release(task: Task, runAt?: Date): void {
    const entry = this.runningEntry(task);
    entry.attempts--;
    this.tasks.setStatus(entry, 'pending');
    entry.startedAtMs = NaN;
    if (!runAt) return this.waiting.giveBack(entry);
    entry.runAtMs = runAt.getTime();
    this.waiting.add(entry);
  }

  // ---- internals -------------------------------------------------------

  /** @internal */
  protected finish(entry: MemoryEntry, status: 'succeeded' | 'cancelled' | 'dead', at: number, remember = true): void {
    entry.completedAtMs = at;
    this.tasks.finish(entry, status, remember);
    if (entry.flow !== undefined) this.flows.ended(entry, status);
    this.checkIdle();
  }

  private checkIdle(): void {
    // nobody waits for idle while a drain runs: that check first, the unfinished count (four reads) only when someone does
    if (this.idle.waiting && this.tasks.unfinished === 0) this.idle.idle();
  }

  /** @internal */
  protected emit(kind: TaskEventKind, entry: MemoryEntry, durationMs?: number, error?: string, retryAt?: Date, progress?: TaskProgress): void {
    this.taskEvents.emit(kind, entry, durationMs, error, retryAt, progress);
  }
}
