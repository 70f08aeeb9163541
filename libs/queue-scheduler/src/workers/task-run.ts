import { performance } from 'node:perf_hooks';
import { TaskTimeoutError } from '../errors/errors';
import type { RegisteredHandler } from '../handlers/task-handler.registry';
import type { ChildResult } from '../interfaces/flow.interface';
import type { MaybePromise, Task, TaskContext, TaskProgress } from '../interfaces/task.interface';
import { isObservableOutcome, lastValueOf } from './observable-outcome';
import { normalizeProgress, ProgressReports } from './task-progress';

/** Told once when a try ends: `run.durationMs` is set, and `clock` holds the end, by then. */
export interface TryOwner {
  /**
   * The last performance.now() reading: a try writes its end here before
   * `ended`, so the owner needs no reading of its own and the run keeps one
   * number, not two (each is a heap box of 16 bytes, per try).
   */
  clock: number;
  ended(run: TaskRun, ok: boolean, value: unknown): void;
  /** Stores a progress report of `run` (already validated); never throws, never rejects. */
  writeProgress(run: TaskRun, value: TaskProgress): MaybePromise<void>;
  readonly progressIntervalMs: number;
  childResults(run: TaskRun): Promise<Record<string, ChildResult>>;
}

/** What only some tries need: made on first use. */
interface Pending {
  controller?: AbortController;
  timer?: NodeJS.Timeout;
  progress?: ProgressReports;
  /** Why the try was aborted (timeout or shutdown). */
  reason?: Error;
  /** Set by cancelTask. */
  cancelledBy?: Error;
  /** Made by `abort`: resolves once the handler, which the abort did not stop, has returned. */
  returned?: Promise<void>;
  onReturn?: () => void;
}

/** `TaskRun.state`: one small integer instead of two booleans, a field less per try. */
const RUNNING = 0;
/** Inside the handler's synchronous part. */
const CALLING = 1;
const ENDED = 2;

/**
 * One try of one task: the handler's context (`ctx`), its abort switch and
 * its end, reported once. A handler that returns a plain value (or throws)
 * ends before `start` returns, with no promise, timer or AbortController
 * made for it; the AbortController behind `ctx.signal` is made only if the
 * handler reads the signal: a controller with a listener on it per task was
 * a sixth of the in-process cost per task (docs/benchmarks.md). The object
 * is kept small: it is the one allocation every task makes.
 */
export class TaskRun implements TaskContext {
  readonly attempt: number;
  /** performance.now() when the handler was called; once the try ended, its duration. */
  private time: number;
  private state = RUNNING;
  private pending?: Pending = undefined;

  constructor(
    readonly task: Task,
    readonly maxAttempts: number,
    readonly handler: RegisteredHandler,
    private readonly owner: TryOwner,
    /** A fresh performance.now() reading, taken by the caller. */
    startedAt: number,
  ) {
    this.attempt = task.attempts;
    this.time = startedAt;
  }

  /** Why the try was aborted (timeout or shutdown); undefined while it runs. */
  get reason(): Error | undefined {
    return this.pending?.reason;
  }

  /** Set by cancelTask: the signal aborts with it, and the try, when it ends, ends the task cancelled. */
  get cancelledBy(): Error | undefined {
    return this.pending?.cancelledBy;
  }

  /**
   * For a try its timeout or the shutdown ended (`abort`): resolves once its handler returned. Until then the
   * handler still runs, and keeps its worker slot. Undefined for a try its handler ended.
   */
  get returned(): Promise<void> | undefined {
    return this.pending?.returned;
  }

  /** How long the handler ran, in ms; read once the try ended. */
  get durationMs(): number {
    return this.state === ENDED ? this.time : 0;
  }

  get taskId(): string {
    return this.task.taskId;
  }

  get type(): string {
    return this.task.type;
  }

  get signal(): AbortSignal {
    const pending = (this.pending ??= {});
    if (!pending.controller) {
      pending.controller = new AbortController();
      const reason = pending.reason ?? pending.cancelledBy;
      if (reason) pending.controller.abort(reason);
    }
    return pending.controller.signal;
  }

  childResults(): Promise<Record<string, ChildResult>> {
    return this.owner.childResults(this);
  }

  progress(value: TaskProgress): void {
    const clean = normalizeProgress(value);
    // a handler that reports after its try ended (a callback it left behind) changes nothing
    if (this.state === ENDED) return;
    const pending = (this.pending ??= {});
    pending.progress ??= new ProgressReports((v) => this.owner.writeProgress(this, v), this.owner.progressIntervalMs);
    pending.progress.report(clean, this.state === CALLING);
  }

  /**
   * Writes the progress value still waiting for its window; the promise of
   * the writes under way, which the outcome must follow (undefined: none).
   */
  progressWritten(): Promise<void> | undefined {
    return this.pending?.progress?.end();
  }

  /** Calls the handler. Returns true when the try already ended (a synchronous result or throw). */
  start(): boolean {
    let outcome: unknown;
    this.state = CALLING;
    try {
      outcome = this.handler.fn(this.task.params, this);
    } catch (err) {
      // an abort inside the handler's synchronous part has ended the try already: it stays ended
      if (this.state === CALLING) this.state = RUNNING;
      this.end(false, err);
      return true;
    }
    if (this.state === CALLING) this.state = RUNNING;
    if (!isThenable(outcome)) {
      if (!isObservableOutcome(outcome)) {
        this.end(true, outcome);
        return true;
      }
      outcome = lastValueOf(outcome, this.signal);
    }
    this.pending?.progress?.continued();
    const { timeoutMs } = this.handler;
    if (timeoutMs !== undefined) {
      const timer = setTimeout(() => this.abort(new TaskTimeoutError(timeoutMs, this.task.taskId)), timeoutMs);
      timer.unref();
      (this.pending ??= {}).timer = timer;
    }
    (outcome as PromiseLike<unknown>).then(
      (value) => this.end(true, value),
      (err: unknown) => this.end(false, err),
    );
    return false;
  }

  /**
   * Aborts `ctx.signal` with `reason` without ending the try: the handler
   * ends it (most give up at once), and its outcome is then recorded as a
   * cancel whatever it was. Returns false when the try is over.
   */
  cancel(reason: Error): boolean {
    if (this.state === ENDED) return false;
    const pending = (this.pending ??= {});
    if (pending.cancelledBy) return true;
    pending.cancelledBy = reason;
    if (!pending.reason) pending.controller?.abort(reason);
    return true;
  }

  /** Ends the try now with `reason` as its error and aborts `ctx.signal`; the handler's own outcome is then ignored. */
  abort(reason: Error): void {
    if (this.state === ENDED || this.pending?.reason) return;
    const pending = (this.pending ??= {});
    pending.reason = reason;
    pending.returned = new Promise<void>((resolve) => (pending.onReturn = resolve));
    pending.controller?.abort(reason);
    this.end(false, reason);
  }

  private end(ok: boolean, value: unknown): void {
    if (this.state === ENDED) {
      // the handler of a try `abort` ended has returned now: its slot may be freed
      this.pending?.onReturn?.();
      return;
    }
    this.state = ENDED;
    if (this.pending?.timer) clearTimeout(this.pending.timer);
    // written into fields, not passed on as arguments: a double argument is a heap allocation per call
    const now = performance.now();
    this.time = now - this.time;
    this.owner.clock = now;
    this.owner.ended(this, ok, value);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
