import type { Observable } from 'rxjs';
import { describeValue, InvalidArgumentError, InvalidOptionsError } from '../errors/errors';
import type { FlowIds, FlowInput, FlowNode } from '../interfaces/flow.interface';
import type { ClusterEventsOptions, ClusterTaskEvent, InstanceLoad, MaybePromise, PushTaskInput, TaskEvent, TaskFinishedOptions, TaskRecord, TaskStatus } from '../interfaces/task.interface';
import type { PublicStore } from '../store/public-store';
import type { QueueCapabilities } from './queue-consumer';
import { type TaskEventListener, TaskEventStream } from './task-events';
import type { ClusterEventSource } from './cluster-events';
import { TaskFinishWaiters } from './task-finished';

export interface ListTasksFilter {
  status?: TaskStatus | undefined;
  type?: string | undefined;
  /** @default 100 */
  limit?: number | undefined;
  /** Opaque cursor from the previous page's `nextCursor`. */
  cursor?: string | undefined;
}

/** @publicApi */
export interface CancelTaskOptions {
  /** false: leave a running task alone (cancel only one that has not started). @default true */
  running?: boolean | undefined;
}

export interface TaskPage {
  items: TaskRecord[];
  nextCursor?: string | undefined;
}

export type StatusCounts = Record<TaskStatus, number>;

/**
 * The queue contract every backend keeps, as producers see it: inject
 * `TaskQueue` whatever the backend. (The worker pool and the scheduler
 * drive the same object through the internal `QueueConsumer`.)
 * Methods return plain values on the memory backend and promises on the
 * database backend: `await` them and code works on both.
 * @publicApi
 */
export abstract class TaskQueue {
  /** Every backend reports its task events here. */
  protected readonly taskEvents = new TaskEventStream(() => this.now());

  /** Lifecycle events of every task in this process, one TaskEvent object each. */
  get events$(): Observable<TaskEvent> {
    return this.taskEvents.events$;
  }

  /**
   * Calls `listener(kind, type, durationMs)` on every task event of this
   * process, without building an event object: the cheap way to count, as
   * `QueueSchedulerMetrics` does. Returns the function that stops it.
   */
  onEvent(listener: TaskEventListener): () => void {
    return this.taskEvents.listen(listener);
  }

  /**
   * The outcome events (succeeded, retrying, dead, cancelled) of every task on
   * every instance sharing this backend, each with an `id` to resume from:
   * `clusterEvents$({ after: lastSeen.id })` replays what was recorded since,
   * as long as it is kept (see the README's "Cluster events"), then goes on live.
   * Needs `queue.clusterEvents: true` on every instance (InvalidOptionsError otherwise).
   */
  clusterEvents$(options: ClusterEventsOptions = {}): Observable<ClusterTaskEvent> {
    const source = this.clusterEventSource();
    if (!source) throw new InvalidOptionsError('queue.clusterEvents', 'clusterEvents$ needs queue.clusterEvents: true (on every instance: only then do they record events)');
    // a number passed the database backends' digit check as its digits, and Redis refused it: one rule for all
    const after: unknown = options?.after;
    if (after !== undefined && typeof after !== 'string') throw new InvalidArgumentError('after', `after must be an event id (a string) from this queue, got ${describeValue(after)}`);
    return source.stream(after);
  }

  /** The backend's cluster events; undefined while queue.clusterEvents is off. */
  protected clusterEventSource(): ClusterEventSource | undefined {
    return undefined;
  }

  private finishWaiters?: TaskFinishWaiters;

  /**
   * Resolves with the task's record once it is succeeded, dead or cancelled,
   * whichever instance ran it (at once if it already is); TaskNotFoundError for
   * an unknown id, TaskWaitTimeoutError after `timeoutMs`. Woken by cluster
   * events when they are on, else by polling `getTask` (backing off to 1 s).
   */
  onTaskFinished(taskId: string, options?: TaskFinishedOptions): Promise<TaskRecord> {
    this.finishWaiters ??= new TaskFinishWaiters({
      getTask: (id) => this.getTask(id),
      events$: this.events$,
      clusterStream: () => this.clusterEventSource()?.stream(undefined),
      onClose: (fn) => this.taskEvents.onComplete(fn),
    });
    return this.finishWaiters.wait(taskId, options);
  }

  /** Queues a task and returns its id; an id still pending or running is not queued twice. */
  abstract pushTask<P>(input: PushTaskInput<P>): MaybePromise<string>;
  /**
   * Queues several tasks in order, each with pushTask's dedupe rule; every
   * input is validated first, so one bad input (`InvalidTaskError` naming
   * `inputs[i].field`) queues none.
   */
  abstract pushTasks<P>(inputs: PushTaskInput<P>[]): MaybePromise<string[]>;
  /**
   * Queues a tree of tasks in one atomic write (one transaction on the
   * databases, one MULTI on Redis) and returns their ids, shaped as the input: a parent becomes
   * ready once all its children have ended as their `onChildFailure` allows,
   * and its handler reads their results with `ctx.childResults()`. A bad node
   * throws InvalidTaskError naming its path (`children[2].children[0].type`)
   * and writes nothing.
   */
  abstract pushFlow<P>(flow: FlowInput<P>): MaybePromise<FlowIds>;
  /** The tree under `rootId` with each node's status; TaskNotFoundError for an unknown id. */
  abstract getFlow(rootId: string): MaybePromise<FlowNode>;
  /** What this backend guarantees and how it is driven (see QueueCapabilities). */
  abstract readonly capabilities: QueueCapabilities;

  /** The queue's time source (epoch ms): run times, retry times and timestamps are read from it. */
  now(): number {
    return Date.now();
  }

  /** Number of tasks waiting (ready or delayed), not counting running ones. */
  abstract getQueueSize(): MaybePromise<number>;
  /** Resolves when nothing is pending or running; QueueClosedError once the queue closes (the app shuts down) first. */
  abstract onIdle(): Promise<void>;
  /** Status, attempts, timestamps, error and result; TaskNotFoundError for an unknown id. */
  abstract getTask(taskId: string): MaybePromise<TaskRecord>;
  abstract listTasks(filter?: ListTasksFilter): MaybePromise<TaskPage>;
  abstract countByStatus(): MaybePromise<StatusCounts>;
  /**
   * Busy workers per instance sharing this queue (this process alone on the
   * memory backend): the instances running at least one task, and this one
   * always, busy or not.
   */
  abstract runningByInstance(): MaybePromise<InstanceLoad[]>;
  /** Queues a dead (or failed) task again with a fresh attempt count. */
  abstract retryTask(taskId: string): MaybePromise<void>;
  /**
   * Cancels a pending task at once, or asks a running one to stop (its
   * `ctx.signal` aborts with TaskCancelledError; it ends cancelled when its
   * handler returns). False when it had already finished, or, with
   * `{ running: false }`, when it had started.
   */
  abstract cancelTask(taskId: string, options?: CancelTaskOptions): MaybePromise<boolean>;
  /**
   * Deletes a finished task (succeeded, cancelled or dead) and its record:
   * `getTask` no longer finds it and its id is free. False while it is
   * pending, running or waiting for a retry (cancel it first).
   */
  abstract deleteTask(taskId: string): MaybePromise<boolean>;
  /**
   * Stops workers from starting tasks of `type`: on the durable backends every
   * instance, within one `queue.pollIntervalMs`, and across restarts (it is
   * stored); on memory this process. Running tasks finish; pushes are kept.
   */
  abstract pauseType(type: string): MaybePromise<void>;
  /** Lets workers start tasks of `type` again (every instance within one poll). */
  abstract resumeType(type: string): MaybePromise<void>;
  /** The paused types, sorted. */
  abstract listPausedTypes(): MaybePromise<string[]>;

  /** The backend's public store, behind the seed's store methods below (one facade for every backend). */
  protected abstract readonly store: PublicStore;

  /** Stores `value` (normalised as task params are) under `key`, for `ttlSeconds` or with no expiry. */
  setPublic(key: string, value: unknown, ttlSeconds?: number | null): MaybePromise<void> {
    return this.store.set(key, value, ttlSeconds);
  }

  /** The value under `key`, or null when there is none or it expired. */
  getPublic<T = unknown>(key: string): MaybePromise<T | null> {
    return this.store.get<T>(key);
  }

  /** false when there was no such (unexpired) key. */
  deletePublic(key: string): MaybePromise<boolean> {
    return this.store.delete(key);
  }

  listKeys(): MaybePromise<string[]> {
    return this.store.keys();
  }

  getStoreSize(): MaybePromise<number> {
    return this.store.size();
  }

  clearStore(): MaybePromise<void> {
    return this.store.clear();
  }

  /** Removes expired keys now and returns how many. */
  cleanup(): MaybePromise<number> {
    return this.store.cleanup();
  }
}
