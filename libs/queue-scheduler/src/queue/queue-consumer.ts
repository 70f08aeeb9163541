import type { EntityManager } from 'typeorm';
import type { ChildResult, FlowInput } from '../interfaces/flow.interface';
import { NotSupportedError } from '../errors/errors';
import type { MaybePromise, PushTaskInput, Task, TaskProgress } from '../interfaces/task.interface';
import type { RateLimit } from '../interfaces/task-handler.interface';

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
  /** The types with a rate limit: a claim starts no more of them than their window allows. */
  readonly rateLimits?: ReadonlyMap<string, RateLimit>;
}

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
 * One occurrence the scheduler pushes: a task, or with `children` (a flow
 * schedule) the root of a flow, whose id, `schedulerTaskId` and
 * `scheduledAt` are the scheduler's; the children get ids of their own and
 * carry no schedule fields.
 */
export type Occurrence = PushTaskInput & { children?: FlowInput[] };

/** The scheduler's compare-and-set on a schedule: the occurrences to push, or null when the claim was lost. */
export type OccurrenceClaim = (manager?: EntityManager) => Promise<Occurrence[] | null>;

/** A schedule change's transaction (see QueueConsumer.inScheduleChange). */
export interface ScheduleChangeTx {
  manager: EntityManager;
  /**
   * Cancels an occurrence queued ahead, in the transaction: true when it is cancelled (or not there, so nothing will
   * run it); false when it, or a task of its flow, has started or ended.
   */
  cancel(taskId: string): Promise<boolean>;
}

/**
 * The side of a backend that the worker pool and the scheduler drive:
 * taking tasks, recording their outcomes, and pushing a schedule's
 * occurrences together with its claim. Kept apart from `TaskQueue` so a
 * producer (which injects `TaskQueue`) is not handed `complete()`. Every
 * backend class implements both; the module provides this token as an alias
 * of the selected backend. Not part of the public API.
 */
export abstract class QueueConsumer {
  abstract readonly capabilities: QueueCapabilities;
  /** The queue's time source (epoch ms), as `TaskQueue.now()`. */
  abstract now(): number;
  /** Takes up to `limit` ready tasks for a worker and marks them running. */
  abstract claim(filter: ClaimFilter, limit: number): MaybePromise<Task[]>;
  /**
   * Resolves when a claim with `filter` may succeed (at once if it may now),
   * or after `timeoutMs`, or when `signal` aborts.
   */
  abstract waitForWork(filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void>;
  abstract complete(task: Task, result: unknown, durationMs: number): MaybePromise<void>;
  /** Records a failed try: `retryAt` queues it again, null makes it dead. `durationMs` undefined: no handler ran (no handler, lost tries). */
  abstract fail(task: Task, error: Error, retryAt: Date | null, durationMs: number | undefined): MaybePromise<void>;
  /** Gives back a claimed task without using an attempt (shutdown; a RateLimitedError: not before `runAt`). */
  abstract release(task: Task, runAt?: Date): MaybePromise<void>;
  /** Records that a running try was cancelled (`cancelTask`): the task ends cancelled, never retried; nothing when its lease is gone. */
  abstract cancelled(task: Task, durationMs: number): MaybePromise<void>;
  /**
   * Registers the worker pool's handler of cancel requests for running tasks:
   * called with the id of a task this instance may be running (returns
   * whether it was). The database backend looks for requests made elsewhere
   * once per queue.pollIntervalMs while it runs tasks; Redis hears them at once.
   */
  abstract onCancelRequest(listener: (taskId: string) => boolean): void;
  /**
   * Stores a validated progress report of this try of `task` (still running
   * here) and emits a `progress` event; a try no longer running writes nothing.
   */
  abstract progress(task: Task, value: TaskProgress): MaybePromise<void>;
  /** What `ctx.childResults()` gives a flow's parent: its children's outcomes by id (`{}` for a task with none). */
  abstract childResults(task: Task): MaybePromise<Record<string, ChildResult>>;
  /**
   * Runs `claim` and pushes the tasks it returns. The database backend does
   * both in one transaction (`claim` gets its EntityManager), so an
   * occurrence is enqueued exactly once; other backends push right after a
   * successful claim. Returns the task ids, or null when the claim was lost.
   */
  abstract pushClaimed(claim: OccurrenceClaim): Promise<string[] | null>;
  /**
   * Runs a schedule change: `work` cancels the occurrences its schedule queued ahead, then writes the schedule's
   * row. The database backend runs it in one transaction and hands it its manager and a cancel bound to it: the
   * cancels and the write commit together or not at all (apart, a crash or a lost compare-and-set between them left
   * occurrences cancelled and never given back). Absent on the backends with no such transaction.
   */
  inScheduleChange?<T>(work: (tx: ScheduleChangeTx) => Promise<T>): Promise<T>;
  /**
   * Whether a task of schedule `scheduleId` is still pending, running or
   * waiting for a retry, on any instance sharing this queue: what an overlap
   * policy ('skip', 'wait') decides on. The database backend answers inside
   * the scheduler's claim transaction (`manager`), so the check and the claim
   * see one state; the other backends ignore it.
   */
  abstract hasUnfinishedRun(scheduleId: string, manager?: EntityManager): Promise<boolean>;
  /**
   * The backend's own server (Redis), for the health check, the metrics and the dashboard. Absent where
   * there is none to ask: memory, and the database backend, whose database the health check asks already.
   */
  readonly reach?: BackendReach;
}

/** Throws why the backend's server is known to be unreachable now (see BackendReach.unreachable), asking it nothing. */
export function throwIfUnreachable(consumer: QueueConsumer | undefined): void {
  const lost = consumer?.reach?.unreachable;
  if (lost) throw new Error(lost);
}

/** How the library asks whether a backend's server can be reached. */
export interface BackendReach {
  /** Resolves when the server answers (Redis: PING). */
  ping(): Promise<void>;
  /** Why the server is known to be unreachable now (the connection is lost), without asking it; undefined otherwise. */
  readonly unreachable: string | undefined;
}

/**
 * pushClaimed for a backend with no transaction to share with the scheduler:
 * claim, then push one by one. A flow occurrence goes to `pushFlow`; a
 * backend without one refuses it (the claim has committed: that occurrence is lost, and logged).
 */
export async function pushAfterClaim(
  push: (input: PushTaskInput) => MaybePromise<string>,
  claim: OccurrenceClaim,
  pushFlow?: (root: Occurrence) => MaybePromise<string>,
): Promise<string[] | null> {
  const inputs = await claim(undefined);
  if (!inputs) return null;
  const ids: string[] = [];
  for (const input of inputs) {
    let id: MaybePromise<string>;
    if (input.children === undefined) id = push(input);
    else if (pushFlow) id = pushFlow(input);
    else throw new NotSupportedError(`occurrence ${input.taskId} of a flow schedule (flows)`, 'selected');
    // the memory backend answers at once: an await per occurrence cost a promise and a resumption each, in the claim's slice
    ids.push(typeof id === 'string' ? id : await id);
  }
  return ids;
}
