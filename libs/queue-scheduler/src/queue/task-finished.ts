import type { Observable, Subscription } from 'rxjs';
import { describeValue, InvalidArgumentError, QueueClosedError, TaskWaitTimeoutError } from '../errors/errors';
import type { ClusterTaskEvent, MaybePromise, TaskEvent, TaskFinishedOptions, TaskRecord } from '../interfaces/task.interface';
import { FINISHED_STATUSES } from './cluster-events';
import { holdProcess } from './keep-alive';
import { callOptions } from './call-options';

/** What the waiters need of their queue. */
export interface FinishSources {
  getTask(taskId: string): MaybePromise<TaskRecord>;
  readonly events$: Observable<TaskEvent>;
  /** The cluster stream from now, or undefined when queue.clusterEvents is off. */
  clusterStream(): Observable<ClusterTaskEvent> | undefined;
  /** Calls `fn` once when the queue closes (its events end), at once if it has. */
  onClose(fn: () => void): void;
}

/** The longest timer Node keeps: past it, setTimeout fires after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * onTaskFinished's options: null reads as none; `timeoutMs` Infinity (or absent) is no limit, anything but ms from 0
 * to MAX_TIMER_MS is refused (2 ** 31 fired after 1 ms, NaN and 'abc' at once); null reads as not given.
 */
function waitTimeout(options: unknown): number | undefined {
  const { timeoutMs } = callOptions(options, 'options', '{ timeoutMs: 30000 }');
  if (timeoutMs === undefined || timeoutMs === null || timeoutMs === Infinity) return undefined;
  if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0 && timeoutMs <= MAX_TIMER_MS)) {
    throw new InvalidArgumentError('options.timeoutMs', `options.timeoutMs must be a number of ms from 0 to ${MAX_TIMER_MS}, or Infinity for no limit, got ${describeValue(timeoutMs)}`);
  }
  return timeoutMs;
}

/** Polling without cluster events: soon after the call, then doubling up to this. */
const MAX_POLL_MS = 1000;
/** With cluster events the stream wakes a waiter; a read this often covers the stream's start-up (its cursor is read after the first getTask). */
const SAFETY_POLL_MS = 2000;

interface Waiter {
  /** Another look at the task now. */
  check(): void;
  /** The queue closed: the wait ends with QueueClosedError. */
  close(): void;
}

/**
 * `onTaskFinished`: the task is read once, then again whenever an event says
 * it may have finished: this instance's own events, every instance's through
 * one shared `clusterEvents$` subscription while anyone waits, or (cluster
 * events off) a poll that backs off to once a second. When the queue closes
 * (its own events end, on module destroy, before its connections close) every
 * wait ends with QueueClosedError, and so does a wait asked for after.
 */
export class TaskFinishWaiters {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private subscriptions: Subscription[] = [];
  private closed = false;

  constructor(private readonly sources: FinishSources) {
    sources.onClose(() => this.close());
  }

  wait(taskId: string, options?: TaskFinishedOptions): Promise<TaskRecord> {
    return new Promise<TaskRecord>((resolve, reject) => {
      const timeoutMs = waitTimeout(options);
      if (this.closed) return reject(new QueueClosedError(taskId));
      const deadlineAt = Date.now() + (timeoutMs ?? 0);
      let timer: NodeJS.Timeout | undefined;
      let deadline: NodeJS.Timeout | undefined;
      let reading = false;
      let again = false;
      let pollMs = 25;
      let cluster = false;
      let done = false;
      const release = holdProcess();
      const finish = (settle: () => void): void => {
        if (done) return;
        done = true;
        release();
        clearTimeout(timer);
        clearTimeout(deadline);
        this.remove(taskId, waiter);
        settle();
      };
      const waiter: Waiter = {
        check: () => {
          if (done) return;
          if (reading) return void (again = true);
          reading = true;
          clearTimeout(timer);
          Promise.resolve()
            .then(() => this.sources.getTask(taskId))
            .then(
              (record) => {
                reading = false;
                // ended meanwhile (closed, timed out): a read under way must not arm another poll
                if (done) return;
                if (FINISHED_STATUSES.has(record.status)) return finish(() => resolve(record));
                // armed once the task was read unfinished: a task already finished resolves, whatever the timeout
                if (timeoutMs !== undefined && deadline === undefined) {
                  deadline = setTimeout(() => finish(() => reject(new TaskWaitTimeoutError(taskId, timeoutMs))), Math.max(0, deadlineAt - Date.now()));
                  deadline.unref();
                }
                if (again) return ((again = false), waiter.check());
                timer = setTimeout(() => waiter.check(), cluster ? SAFETY_POLL_MS : pollMs);
                timer.unref();
                pollMs = Math.min(MAX_POLL_MS, pollMs * 2);
              },
              (err: unknown) => finish(() => reject(err)),
            );
        },
        close: () => finish(() => reject(new QueueClosedError(taskId))),
      };
      let set = this.waiters.get(taskId);
      if (!set) this.waiters.set(taskId, (set = new Set()));
      set.add(waiter);
      cluster = this.subscribe();
      waiter.check();
    });
  }

  /** Subscribes to the event streams with the first waiter; true when the cluster stream is among them. */
  private subscribe(): boolean {
    if (this.subscriptions.length) return this.subscriptions.length > 1;
    const wake = (e: { kind: string; taskId: string }): void => {
      if (e.kind === 'succeeded' || e.kind === 'dead' || e.kind === 'cancelled') for (const w of this.waiters.get(e.taskId) ?? []) w.check();
    };
    this.subscriptions.push(this.sources.events$.subscribe(wake));
    const cluster = this.sources.clusterStream();
    // a failing stream leaves the waiters to their safety poll
    if (cluster) this.subscriptions.push(cluster.subscribe({ next: wake, error: () => undefined }));
    return cluster !== undefined;
  }

  private close(): void {
    this.closed = true;
    for (const set of [...this.waiters.values()]) for (const waiter of [...set]) waiter.close();
  }

  private remove(taskId: string, waiter: Waiter): void {
    const set = this.waiters.get(taskId);
    set?.delete(waiter);
    if (set?.size === 0) this.waiters.delete(taskId);
    if (this.waiters.size > 0) return;
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
  }
}
