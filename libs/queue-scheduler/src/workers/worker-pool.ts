import type { TaskHandlerRegistry } from '../handlers/task-handler.registry';
import type { ResolvedOptions } from '../interfaces/options.interface';
import type { Task } from '../interfaces/task.interface';
import { LibraryLogger, taskLabel } from '../queue-scheduler.logger';
import type { ClaimFilter, TaskQueue } from '../queue/task-queue';
import { type InFlight, ShutdownAbort, TaskRunner } from './task-runner';

/** How long an idle dispatcher sleeps before looking again without being woken. */
const IDLE_WAIT_MS = 1000;
/** The reason a dispatcher's sleep is ended early; nothing reads it. */
const WOKEN = Symbol('woken');

/**
 * Runs up to `workers.concurrency` tasks at once. One dispatcher claims as
 * many tasks as there are free slots (a batch on the database backend) and
 * launches them; it alone claims, so per-type caps hold exactly: the claim
 * filter carries each capped type's free slots. Knows only the queue
 * contract and the handler registry.
 */
export class WorkerPool {
  private readonly inFlight = new Map<string, InFlight>();
  private readonly active = new Set<Promise<void>>();
  private readonly runningByType = new Map<string, number>();
  private readonly runner: TaskRunner;
  private stopController = new AbortController();
  private dispatcher?: Promise<void>;
  private wakeDispatcher?: () => void;
  private filter?: ClaimFilter;

  constructor(
    private readonly queue: TaskQueue,
    private readonly registry: TaskHandlerRegistry,
    private readonly options: ResolvedOptions,
    /** true when no other process can run a task (memory backend): unknown types are dead-lettered at once. */
    private readonly soleConsumer: boolean,
    private readonly logger = new LibraryLogger(WorkerPool.name, options.logLevel),
  ) {
    this.runner = new TaskRunner(queue, registry, this.logger);
  }

  get started(): boolean {
    return this.dispatcher !== undefined;
  }

  /** Tasks running now. */
  get busy(): number {
    return this.active.size;
  }

  /** Tasks that may run at once (0 while stopped). */
  get size(): number {
    return this.started ? this.options.workers.concurrency : 0;
  }

  start(): void {
    if (this.started) return;
    this.stopController = new AbortController();
    this.filter = undefined;
    this.dispatcher = this.dispatch();
    this.logger.log(`${this.options.workers.concurrency} worker(s) started for ${this.registry.types().length} task type(s)`);
  }

  /**
   * Stops claiming, gives in-flight tasks `shutdownTimeoutMs` to finish, then
   * aborts their signals; aborted tasks are released without using an attempt.
   */
  async stop(timeoutMs = this.options.shutdownTimeoutMs): Promise<void> {
    if (!this.dispatcher) return;
    this.stopController.abort();
    this.wakeDispatcher?.();
    await this.dispatcher;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.all(this.active).then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      const left = [...this.inFlight.values()];
      this.logger.warn(
        `shutdown: ${left.length} task(s) still running after ${timeoutMs} ms, aborting them: ${left.map((f) => taskLabel(f.task)).join(', ')}`,
      );
      for (const f of left) f.abort.abort(new ShutdownAbort());
      await Promise.all(this.active);
    }
    this.dispatcher = undefined;
  }

  private async dispatch(): Promise<void> {
    const stop = this.stopController.signal;
    const concurrency = this.options.workers.concurrency;
    while (!stop.aborted) {
      const free = concurrency - this.active.size;
      if (free <= 0) {
        await this.sleep(Infinity);
        continue;
      }
      const filter = (this.filter ??= this.buildFilter());
      let tasks: Task[];
      try {
        const claimed = this.queue.claim(filter, free);
        tasks = claimed instanceof Promise ? await claimed : claimed;
      } catch (err) {
        this.logger.error(`claiming tasks failed, retrying in ${IDLE_WAIT_MS} ms: ${(err as Error).message}`, err);
        await this.sleep(IDLE_WAIT_MS);
        continue;
      }
      if (tasks.length === 0) {
        await this.sleep(IDLE_WAIT_MS, filter);
        continue;
      }
      for (const task of tasks) this.launch(task);
    }
  }

  private launch(task: Task): void {
    this.track(task.type, 1);
    const run: Promise<void> = this.runner.run(task, this.inFlight).finally(() => {
      this.active.delete(run);
      this.track(task.type, -1);
      this.wakeDispatcher?.();
    });
    this.active.add(run);
  }

  /**
   * Sleeps until a slot frees, stop is asked, `ms` pass, or (with a filter)
   * the queue has work for it. One AbortController per sleep, so a wake-up
   * from any side also withdraws the queue's waiter.
   */
  private async sleep(ms: number, filter?: ClaimFilter): Promise<void> {
    const stop = this.stopController.signal;
    if (stop.aborted) return;
    const wake = new AbortController();
    // a fixed reason: abort() without one builds a DOMException with a stack trace, once per finished task
    const onStop = (): void => wake.abort(WOKEN);
    stop.addEventListener('abort', onStop, { once: true });
    this.wakeDispatcher = onStop;
    try {
      if (filter) {
        await this.queue.waitForWork(filter, ms, wake.signal);
      } else {
        await new Promise<void>((resolve) => {
          const timer = ms === Infinity ? undefined : setTimeout(resolve, ms);
          wake.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    } finally {
      this.wakeDispatcher = undefined;
      stop.removeEventListener('abort', onStop);
    }
  }

  /** Counts running tasks of capped types; any change invalidates the claim filter. */
  private track(type: string, delta: 1 | -1): void {
    const cap = this.registry.get(type)?.concurrency ?? Infinity;
    if (cap === Infinity) return;
    this.runningByType.set(type, (this.runningByType.get(type) ?? 0) + delta);
    this.filter = undefined;
  }

  private buildFilter(): ClaimFilter {
    const handled = new Set(this.registry.types());
    const remaining = new Map<string, number>();
    const types: string[] = [];
    for (const handler of this.registry.all()) {
      const left = handler.concurrency - (this.runningByType.get(handler.type) ?? 0);
      if (left <= 0) continue;
      types.push(handler.type);
      if (handler.concurrency !== Infinity) remaining.set(handler.type, left);
    }
    return { types, unknownTypes: this.soleConsumer, handled, remaining };
  }
}
