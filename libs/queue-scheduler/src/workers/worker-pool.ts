import { settledWithin, UNREACHABLE_WAIT_MS, warnIfSlow } from '../deadline';
import type { RegisteredHandler, TaskHandlerRegistry } from '../handlers/task-handler.registry';
import type { ResolvedOptions } from '../interfaces/options.interface';
import type { MaybePromise, Task } from '../interfaces/task.interface';
import { LibraryLogger, taskLabel } from '../queue-scheduler.logger';
import type { ClaimFilter, QueueConsumer } from '../queue/queue-consumer';
import { type TaskDone, TaskRunner } from './task-runner';
import { TaskShutdownError } from '../errors/conflict-errors';
import { tracingFor } from '../tracing/queue-tracing';
import { TryTraces } from '../tracing/try-traces';
import { ClaimFilters } from './claim-filter';
import { PoolSlots } from './pool-slots';
import { LoopSlice } from './loop-slice';

/** How long an idle pool waits before looking again without being woken. */
const IDLE_WAIT_MS = 1000;
/** The reason an idle wait is ended early; nothing reads it (a reason-less abort() builds a DOMException with a stack). */
const WOKEN = Symbol('woken');
/** A real microtask even under Jest's fake timers, which fake queueMicrotask. */
const RESOLVED = Promise.resolve();

type State = 'stopped' | 'running' | 'stopping';

/**
 * Runs up to `workers.concurrency` handlers at once. The pool alone claims,
 * as many tasks as it has free slots (a batch on the database backend), so
 * per-type caps hold exactly: the claim filter carries each capped type's
 * free slots. A claim that answers synchronously (the memory backend) is
 * run in a loop with no promise per task; a finished task frees its slot and
 * the loop (or a microtask) claims the next.
 *
 * A slot is free once the handler is over, while the queue may still be
 * writing the outcome (the database backend commits outcomes in batches):
 * the next claim then overlaps that write instead of following it. Up to
 * `concurrency` outcomes may be in writing; beyond, claims wait, so a slow
 * database slows the pool rather than piling up outcomes. Knows only the
 * queue contract and the handler registry.
 */
export class WorkerPool {
  private readonly runner: TaskRunner;
  private readonly filters: ClaimFilters;
  private readonly slice = new LoopSlice();
  private state: State = 'stopped';
  private readonly slots: PoolSlots;
  /** Inside the claim loop: a task that ends now needs no new pump. */
  private pumping = false;
  private pumpQueued = false;
  /** An asynchronous claim is under way; it is the only one. */
  private claiming?: Promise<void>;
  /** A claim failed and none has worked since: the failure was logged once. */
  private claimsFailing = false;
  private idle?: AbortController;
  private retryTimer?: NodeJS.Timeout;
  private drained?: () => void;
  private stopping?: Promise<void>;
  private lastHandler?: RegisteredHandler;
  private readonly pumpNow = (): void => {
    this.pumpQueued = false;
    this.pump();
  };

  constructor(
    private readonly queue: QueueConsumer,
    private readonly registry: TaskHandlerRegistry,
    private readonly options: ResolvedOptions,
    private readonly logger = new LibraryLogger(WorkerPool.name, options.logLevel),
  ) {
    const tracing = tracingFor(options);
    // a stop's wait is told when a handler ends too: a slot whose outcome is being written may stay taken until it is
    const ended: TaskDone = (_task, handler, recording, returned) => (this.slots.done(handler, recording, returned), this.drained?.());
    this.runner = new TaskRunner(queue, this.logger, ended, options.queue, tracing && new TryTraces(tracing));
    queue.onCancelRequest((taskId) => this.runner.cancel(taskId));
    this.filters = new ClaimFilters(registry, queue.capabilities.soleConsumer);
    this.slots = new PoolSlots(this.filters, queue.capabilities.claimsOverlapWrites, () => this.settled());
  }

  /** @internal what the next claim asks for (the testing module's clock asks the queue whether it has any) */
  get claimFilter(): ClaimFilter { return this.filters.current; }

  get started(): boolean {
    return this.state !== 'stopped';
  }

  /** Handlers running now. */
  get busy(): number {
    return this.slots.busy;
  }

  /** Tasks that may run at once (0 while stopped). */
  get size(): number {
    return this.started ? this.options.workers.concurrency : 0;
  }

  start(): void {
    if (this.state !== 'stopped') return;
    this.state = 'running';
    this.filters.reset();
    this.logger.log(`${this.options.workers.concurrency} worker(s) started for ${this.registry.types().length} task type(s)`);
    this.schedulePump(false);
  }

  /**
   * Stops claiming, gives in-flight tasks `shutdownTimeoutMs` to finish, then
   * aborts their signals; aborted tasks are released without using an attempt.
   */
  stop(timeoutMs = this.options.shutdownTimeoutMs): Promise<void> {
    if (this.state === 'stopped') return Promise.resolve();
    this.stopping ??= this.drain(timeoutMs).finally(() => {
      this.state = 'stopped';
      this.stopping = undefined;
    });
    return this.stopping;
  }

  private async drain(timeoutMs: number): Promise<void> {
    this.state = 'stopping';
    this.idle?.abort(WOKEN);
    clearTimeout(this.retryTimer);
    // tasks a claim under way returns are launched: they were claimed before the stop. A claim waiting for a backend
    // that is away (ioredis queues commands until Redis is back) is not waited for past UNREACHABLE_WAIT_MS
    if (this.claiming && !(await settledWithin(this.claiming, UNREACHABLE_WAIT_MS))) {
      this.logger.warn(`shutdown: a claim got no answer in ${UNREACHABLE_WAIT_MS} ms (is the backend reachable?); what it takes is left to its lease`);
    }
    // the handlers get timeoutMs. Outcomes still being written once none runs get UNREACHABLE_WAIT_MS, as an aborted
    // try's do: against a backend that is away they would have held the shutdown for the whole of timeoutMs as well
    if (await this.allDone(timeoutMs, () => this.runner.inFlight.size === 0)) return this.outcomesWritten();
    const left = [...this.runner.inFlight];
    // none left running: what is left is outcomes being written
    if (left.length) {
      this.logger.warn(`shutdown: ${left.length} task(s) still running after ${timeoutMs} ms, aborting them: ${left.map((run) => taskLabel(run.task)).join(', ')}`);
    }
    for (const run of left) run.abort(new TaskShutdownError(run.task.taskId));
    // their releases (and outcomes) are writes too: against a backend that is away, the lease gives the tasks back
    await this.outcomesWritten();
  }

  private async outcomesWritten(): Promise<void> {
    if (!(await this.allDone(UNREACHABLE_WAIT_MS))) this.logger.warn(`shutdown: outcomes not written in ${UNREACHABLE_WAIT_MS} ms (is the backend reachable?); their tasks run again after their lease`);
  }

  /** Resolves true once `done` (no handler runs and every outcome is written), false when `timeoutMs` passes first. */
  private allDone(timeoutMs: number, done = (): boolean => this.idleNow()): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = timeoutMs === Infinity ? undefined : setTimeout(() => resolve(false), timeoutMs);
      this.drained = () => {
        if (!done()) return;
        this.drained = undefined;
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  /** Claims and launches until the slots are full or the queue has nothing for us. */
  private pump(): void {
    if (this.pumping || this.claiming || this.state !== 'running') return;
    this.pumping = true;
    try {
      const concurrency = this.options.workers.concurrency;
      for (;;) {
        const { busy } = this.slots;
        const free = Math.min(concurrency - busy, 2 * concurrency - busy - this.slots.recording);
        if (free <= 0) return; // a task that ends pumps again
        const filter = this.filters.current;
        let claimed: MaybePromise<Task[]>;
        try {
          claimed = this.queue.claim(filter, free);
        } catch (err) {
          return this.claimFailed(err);
        }
        if (claimed instanceof Promise) return this.awaitClaim(claimed, filter);
        this.claimWorked();
        if (claimed.length === 0) return this.waitForWork(filter);
        this.runner.readClock();
        for (const task of claimed) this.launch(task);
        if (this.slice.spent(claimed.length)) return this.schedulePump(true);
      }
    } finally {
      this.pumping = false;
    }
  }

  private awaitClaim(claimed: Promise<Task[]>, filter: ClaimFilter): void {
    warnIfSlow(claimed, 'claiming tasks', this.logger);
    this.claiming = claimed.then(
      (tasks) => {
        this.claiming = undefined;
        // answered after a shutdown stopped waiting for it: the connection is closing, the lease gives them back
        if (this.state === 'stopped') return;
        this.claimWorked();
        this.runner.readClock();
        for (const task of tasks) this.launch(task);
        if (tasks.length === 0) this.waitForWork(filter);
        else this.pump();
      },
      (err: unknown) => {
        this.claiming = undefined;
        this.claimFailed(err);
      },
    );
  }

  private claimWorked(): void {
    if (!this.claimsFailing) return;
    this.claimsFailing = false;
    this.logger.log('claiming tasks again');
  }

  private claimFailed(err: unknown): void {
    if (this.state !== 'running') return;
    // once per outage: every finished task pumps, so the failures came several a second, each with its stack
    if (!this.claimsFailing) this.logger.error(`claiming tasks failed, retrying every ${IDLE_WAIT_MS} ms until it works: ${(err as Error).message}`, err);
    this.claimsFailing = true;
    this.retryTimer = setTimeout(this.pumpNow, IDLE_WAIT_MS);
    this.retryTimer.unref();
  }

  /** Sleeps until the queue may have work for `filter` (or IDLE_WAIT_MS); a finished task pumps on its own meanwhile. */
  private waitForWork(filter: ClaimFilter): void {
    if (this.idle || this.state !== 'running') return;
    const idle = (this.idle = new AbortController());
    const woken = (): void => {
      if (this.idle === idle) this.idle = undefined;
      this.pump();
    };
    this.queue.waitForWork(filter, IDLE_WAIT_MS, idle.signal).then(woken, (err: unknown) => {
      this.logger.error(`waiting for tasks failed: ${(err as Error).message}`, err);
      woken();
    });
  }

  private launch(task: Task): void {
    // tasks come in runs of one type: the last lookup is usually the answer
    let handler = this.lastHandler;
    if (task.type !== handler?.type) handler = this.lastHandler = this.registry.get(task.type);
    this.slots.take(handler);
    this.runner.run(task, handler);
  }

  private settled(): void {
    this.drained?.();
    // durable: after the turn, so the tasks ending in one timers phase share a claim (on SQLite a claim answers within
    // microtasks: tasks awaiting 10 ms made one claim each, 1.1 tasks per claim, and 3.5x the CPU per task)
    if (!this.pumping) this.schedulePump(this.queue.capabilities.durable);
  }

  private idleNow(): boolean {
    return this.slots.idle;
  }

  /** One pump per microtask however many tasks end in it; `later`: after the event loop turns. */
  private schedulePump(later: boolean): void {
    if (this.pumpQueued || this.state !== 'running') return;
    this.pumpQueued = true;
    if (later) setImmediate(this.pumpNow);
    else void RESOLVED.then(this.pumpNow);
  }
}
