import type { Observable } from 'rxjs';
import type { EntityManager } from 'typeorm';
import type { MaybePromise, PushTaskInput, Task, TaskEvent, TaskRecord, TaskStatus } from '../interfaces/task.interface';
import type { PublicStore } from '../store/public-store';
import { type TaskEventListener, TaskEventStream } from './task-events';

/** Which tasks a consumer may take now. */
export interface ClaimFilter {
  /** Types with a handler here and below their concurrency cap. */
  readonly types: readonly string[];
  /** Whether a type with no handler anywhere may be taken (to dead-letter it at once). */
  readonly unknownTypes: boolean;
  /** Types known to have a handler, capped or not. */
  readonly handled: ReadonlySet<string>;
  /** Free slots of the types that have a concurrency cap; a claim takes no more of them. */
  readonly remaining?: ReadonlyMap<string, number>;
}

export interface ListTasksFilter {
  status?: TaskStatus;
  type?: string;
  /** @default 100 */
  limit?: number;
  /** Opaque cursor from the previous page's `nextCursor`. */
  cursor?: string;
}

export interface TaskPage {
  items: TaskRecord[];
  nextCursor?: string;
}

export type StatusCounts = Record<TaskStatus, number>;

/**
 * What the worker pool and the scheduler need to know of a backend, asked
 * of the queue instead of which class it is.
 */
export interface QueueCapabilities {
  /**
   * Tasks outlive the process (database, redis). false: what is still queued
   * at exit is lost with it, so the scheduler gives back on stop the
   * occurrences it queued ahead.
   */
  readonly durable: boolean;
  /**
   * No other process takes this queue's tasks (memory): a task of a type
   * with no handler here can be dead-lettered at once.
   */
  readonly soleConsumer: boolean;
  /**
   * Whether the worker pool may claim while outcomes are still being
   * written: true frees a task's slot when its handler ends. A backend whose
   * outcome write also fetches the next task (redis) says false, so the
   * pool waits for that task instead of claiming another.
   */
  readonly claimsOverlapWrites: boolean;
}

/**
 * The queue contract every backend keeps. Producers inject `TaskQueue`
 * whatever the backend; the worker pool and the scheduler use only this.
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

  /** Queues a task and returns its id; an id still pending or running is not queued twice. */
  abstract pushTask<P>(input: PushTaskInput<P>): MaybePromise<string>;
  /**
   * Queues several tasks in order, each with pushTask's dedupe rule; every
   * input is validated first, so one bad input (`InvalidTaskError` naming
   * `inputs[i].field`) queues none.
   */
  abstract pushTasks<P>(inputs: PushTaskInput<P>[]): MaybePromise<string[]>;
  /** What this backend guarantees and how it is driven (see QueueCapabilities). */
  abstract readonly capabilities: QueueCapabilities;

  /** The queue's time source (epoch ms): run times, retry times and timestamps are read from it. */
  now(): number {
    return Date.now();
  }

  /**
   * Runs `claim` (the scheduler's compare-and-set on a schedule) and pushes
   * the tasks it returns. The database backend does both in one transaction
   * (`claim` gets its EntityManager), so an occurrence is enqueued exactly
   * once; other backends push right after a successful claim. Returns the
   * task ids, or null when the claim was lost.
   */
  async pushClaimed(claim: (manager?: EntityManager) => Promise<PushTaskInput[] | null>): Promise<string[] | null> {
    const inputs = await claim(undefined);
    if (!inputs) return null;
    const ids: string[] = [];
    for (const input of inputs) ids.push(await this.pushTask(input));
    return ids;
  }

  /** Number of tasks waiting (ready or delayed), not counting running ones. */
  abstract getQueueSize(): MaybePromise<number>;
  /** Resolves when nothing is pending or running. */
  abstract onIdle(): Promise<void>;
  /** Status, attempts, timestamps, error and result; TaskNotFoundError for an unknown id. */
  abstract getTask(taskId: string): MaybePromise<TaskRecord>;
  abstract listTasks(filter?: ListTasksFilter): MaybePromise<TaskPage>;
  abstract countByStatus(): MaybePromise<StatusCounts>;
  /** Queues a dead (or failed) task again with a fresh attempt count. */
  abstract retryTask(taskId: string): MaybePromise<void>;
  /** Removes a pending task; returns false when it had already started or finished. */
  abstract cancelTask(taskId: string): MaybePromise<boolean>;

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

  /** Takes up to `limit` ready tasks for a worker and marks them running. */
  abstract claim(filter: ClaimFilter, limit: number): MaybePromise<Task[]>;
  /**
   * Resolves when a claim with `filter` may succeed (at once if it may now),
   * or after `timeoutMs`, or when `signal` aborts.
   */
  abstract waitForWork(filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void>;
  abstract complete(task: Task, result: unknown, durationMs: number): MaybePromise<void>;
  /** Records a failed try: `retryAt` queues it again, null makes it dead. */
  abstract fail(task: Task, error: Error, retryAt: Date | null, durationMs: number): MaybePromise<void>;
  /** Gives back a claimed task (shutdown) without using an attempt. */
  abstract release(task: Task): MaybePromise<void>;
}
