/**
 * Lifecycle states a task goes through. `failed` is a failed attempt waiting for its retry;
 * `waiting` is a flow's parent waiting for its children (see `pushFlow`). @publicApi
 */
export type TaskStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'dead' | 'cancelled' | 'waiting';

/** What a producer gives to `pushTask`. @publicApi */
export interface PushTaskInput<P = unknown> {
  /** Stable id: a task whose id is still pending or running is not queued twice. @default a new UUID-shaped id */
  taskId?: string | undefined;
  /** The task type; a `@TaskHandler(type)` method runs it. */
  type: string;
  /** Must survive `JSON.stringify` / `JSON.parse` (no functions, cycles or BigInt). @default {} */
  params?: P | undefined;
  /** Lower runs first; FIFO among equal priorities, in the order tasks became ready. @default 0 */
  priority?: number | undefined;
  /** Not handed to a worker before this many milliseconds have passed. @default 0 */
  delayMs?: number | undefined;
  /** Tries after the first; overrides the handler's `retries.attempts` for this task. */
  maxRetries?: number | undefined;
  /** Set by the scheduler on the tasks it creates. */
  schedulerTaskId?: string | undefined;
  /** Set by the scheduler: the occurrence this task stands for. */
  scheduledAt?: Date | undefined;
  /**
   * One pending task per key, across every type and (on the durable backends)
   * every process: while the key's task has not started, a push with the key
   * stores nothing and returns that task's id. Compared byte for byte, like ids.
   */
  singletonKey?: string | undefined;
  /**
   * With `singletonKey`: a push while the key's task is pending replaces its
   * params and moves its start to this many ms after the push (the first push
   * starts this late too). Not with `throttleMs`.
   */
  debounceMs?: number | undefined;
  /**
   * With `singletonKey`: once a push with the key was accepted, pushes with it
   * in the next `throttleMs` ms are dropped (whatever became of that task) and
   * return its id. Not with `debounceMs`.
   */
  throttleMs?: number | undefined;
}

/** A queued task as workers and manual consumers see it. @publicApi */
export interface Task<P = unknown> {
  readonly taskId: string;
  readonly type: string;
  readonly params: P;
  readonly priority: number;
  /** Earliest time the task may start (push time + delay, or the retry time). */
  runAt: Date;
  /** Tries started so far, including the one running now. */
  attempts: number;
  /**
   * Of `attempts`, the earlier tries lost with their worker (lease expired)
   * rather than failed: they do not use up the retry policy's attempts
   * (see `queue.maxLostTries`). Set on the task a handler gets by the database
   * backend; `getTask(id).tries` lists the lost tries on every durable backend. @default 0
   */
  lostTries?: number | undefined;
  readonly maxRetries?: number | undefined;
  readonly schedulerTaskId?: string | undefined;
  readonly scheduledAt?: Date | undefined;
  readonly createdAt: Date;
  /** In a flow (see `pushFlow`): the task that waits for this one. */
  readonly parentId?: string | undefined;
  /**
   * With `tracing: true`, pushed while a span was active: the W3C `traceparent`
   * of its push's span, then `;` and the `tracestate` if there was one. Each
   * try's span links to it.
   */
  readonly traceContext?: string | undefined;
}

/** A task with its outcome, as the status API reports it. @publicApi */
export interface TaskRecord<P = unknown> extends Task<P> {
  status: TaskStatus;
  /** The `singletonKey` it was pushed with. */
  singletonKey?: string | undefined;
  startedAt?: Date | undefined;
  completedAt?: Date | undefined;
  error?: string | undefined;
  /**
   * The stack of the failed try whose message `error` is (at most
   * MAX_ERROR_STACK_CHARS characters, cut with a marker), as text: show it
   * as text, never as HTML.
   */
  errorStack?: string | undefined;
  result?: unknown | undefined;
  /** The last value the handler reported with `ctx.progress()`, kept after the task ends (and across its retries). */
  progress?: TaskProgress | undefined;
  /**
   * From `getTask` only (a page of `listTasks` leaves it out): the task's
   * tries, oldest first, at most the last MAX_TRIES_KEPT ended ones plus the
   * current or final one. Only a try that failed, timed out or was lost is
   * stored; the last one is read from the task's own status and times.
   */
  tries?: TaskTry[] | undefined;
}

/**
 * How one try ended: `timed_out` past its handler's `timeoutMs`, `lost` with
 * its worker (process killed or stalled past its lease), `running` for the
 * try still under way. @publicApi
 */
export type TaskTryOutcome = 'running' | 'succeeded' | 'failed' | 'timed_out' | 'lost' | 'cancelled';

/** One try of a task, as `TaskRecord.tries` lists it. @publicApi */
export interface TaskTry {
  /** 1 for the first try; counting starts again after `retryTask`. */
  attempt: number;
  /** Unknown for a try lost before its start was recorded. */
  startedAt?: Date | undefined;
  /** Unknown while it runs. */
  finishedAt?: Date | undefined;
  outcome: TaskTryOutcome;
  error?: string | undefined;
  /** As `TaskRecord.errorStack`, for this try. */
  errorStack?: string | undefined;
  /** The instance that ran it (`lease_owner` on the database, the lock token's owner on Redis), when known. */
  instance?: string | undefined;
}

/** How many busy workers one instance has, as `TaskQueue.runningByInstance()` reports it. @publicApi */
export interface InstanceLoad {
  /** The instance's name: host, process id and a random part on the durable backends. */
  instance: string;
  /** Tasks it runs now. */
  running: number;
  /** This process. */
  self: boolean;
}

/**
 * What `ctx.progress()` takes: a percentage from 0 to 100, or a small JSON
 * object (at most MAX_PROGRESS_BYTES as JSON) such as `{ done: 3, of: 10 }`.
 * @publicApi
 */
export type TaskProgress = number | object;

/** Second argument of every `@TaskHandler` method. @publicApi */
export interface TaskContext<P = unknown> {
  readonly taskId: string;
  readonly type: string;
  /** 1 on the first try. */
  readonly attempt: number;
  /** Total tries allowed for this task (first try included). */
  readonly maxAttempts: number;
  readonly task: Task<P>;
  /** Aborted when the handler times out or when shutdown's grace period runs out. */
  readonly signal: AbortSignal;
  /**
   * Reports how far the task has got: stored on the task (`getTask(id).progress`)
   * and emitted as a `progress` event. Calls are throttled to one write per
   * `queue.progressIntervalMs`; the last value of a burst is written at the
   * end of its window, or when the try ends, so the final report is never lost.
   * Throws InvalidProgressError (nothing stored, the try goes on) for a value
   * that is not a percentage or a small JSON object.
   */
  progress(value: TaskProgress): void;
  /**
   * In a flow's parent: its children's outcomes keyed by task id (a child
   * that failed under `onChildFailure: 'ignore'` is left out). `{}` for a
   * task that is no flow's parent.
   */
  childResults(): Promise<Record<string, ChildResult>>;
}

/** One child's outcome, as `ctx.childResults()` gives it to a flow's parent. @publicApi */
export interface ChildResult {
  type: string;
  status: TaskStatus;
  /** The child's handler result, when it succeeded. */
  result?: unknown | undefined;
  /** Why it failed, under `onChildFailure: 'continue'`. */
  error?: string | undefined;
}

/** A failed try is `retrying` (another try follows) or `dead` (none does): no event is a bare 'failed'. */
export type TaskEventKind = 'queued' | 'started' | 'progress' | 'succeeded' | 'retrying' | 'dead' | 'cancelled';

/** One item of `events$`. @publicApi */
export interface TaskEvent {
  readonly kind: TaskEventKind;
  readonly taskId: string;
  readonly type: string;
  readonly attempt: number;
  readonly at: Date;
  /** Handler run time in ms (succeeded / retrying / dead after a run). */
  readonly durationMs?: number | undefined;
  readonly error?: string | undefined;
  /** For `retrying`: when the next try may start. */
  readonly retryAt?: Date | undefined;
  /** For `progress`: the value written. */
  readonly progress?: TaskProgress | undefined;
  readonly schedulerTaskId?: string | undefined;
  /** For tasks a schedule pushed: the occurrence they stand for. */
  readonly scheduledAt?: Date | undefined;
}

export type MaybePromise<T> = T | Promise<T>;

/** The kinds `clusterEvents$` carries: a try's outcome, as the task's row or job records it. @publicApi */
export type ClusterEventKind = Extract<TaskEventKind, 'queued' | 'started' | 'succeeded' | 'retrying' | 'dead' | 'cancelled'>;

/**
 * One item of `clusterEvents$`: an outcome recorded by any instance, with the
 * fields of a TaskEvent that every backend records. `id` is an opaque cursor:
 * `clusterEvents$({ after: id })` resumes just after this event. `attempt` is
 * 0 where the backend does not record it (Redis); `at` is when the outcome was
 * recorded (the writer's clock). @publicApi
 */
export interface ClusterTaskEvent extends Pick<TaskEvent, 'taskId' | 'type' | 'attempt' | 'at' | 'durationMs' | 'error'> {
  readonly id: string;
  readonly kind: ClusterEventKind;
}

/** Options of `clusterEvents$`. @publicApi */
export interface ClusterEventsOptions {
  /** The `id` of the last event seen: the stream starts with the event after it. @default now: only events recorded from the subscription on */
  after?: string | undefined;
}

/** Options of `onTaskFinished`. @publicApi */
export interface TaskFinishedOptions {
  /** Rejects with TaskWaitTimeoutError after this many ms (0 to 2147483647; Infinity: no limit). @default no limit */
  timeoutMs?: number | undefined;
}
