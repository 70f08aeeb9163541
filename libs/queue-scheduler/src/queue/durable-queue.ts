import { describeValue, NotSupportedError, QueueClosedError, TaskNotFoundError } from '../errors/errors';
import type { ChildResult, FlowIds, FlowInput, FlowNode } from '../interfaces/flow.interface';
import { randomBytes } from 'node:crypto';
import type { PushTaskInput, Task, TaskProgress } from '../interfaces/task.interface';
import type { ClaimFilter } from './queue-consumer';
import { type LibraryLogger, taskLabel } from '../queue-scheduler.logger';
import type { ResolvedOptions } from '../interfaces/options.interface';
import { PausedTypes, pausableType } from './paused-types';
import { type PermitStore, RateLimitedClaims } from './rate-windows';
import type { RateLimit } from '../interfaces/task-handler.interface';
import { TaskQueue } from './task-queue';
import type { EmptyTypes } from './empty-types';
import { processName } from './task-tries';
import type { ClusterEventSource } from './cluster-events';
import { IdleWaiters } from './idle-waiters';
import { storableKey } from './task-validation';

/** A durable queue's store methods answer with promises: TaskQueue's one facade, typed so (declaration merging). */
export interface DurableTaskQueue {
  setPublic(key: string, value: unknown, ttlSeconds?: number | null): Promise<void>;
  getPublic<T = unknown>(key: string): Promise<T | null>;
  deletePublic(key: string): Promise<boolean>;
  listKeys(): Promise<string[]>;
  getStoreSize(): Promise<number>;
  clearStore(): Promise<void>;
  cleanup(): Promise<number>;
}

/** The part of a durable backend that takes tasks and records their outcomes for this instance's workers. */
export interface DurableConsumer {
  claim(filter: ClaimFilter, limit: number): Promise<Task[]>;
  waitForWork(filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void>;
  complete(task: Task, result: unknown, durationMs: number): Promise<void>;
  fail(task: Task, error: Error, retryAt: Date | null, durationMs: number | undefined): Promise<void>;
  release(task: Task, runAt?: Date): Promise<void>;
  progress(task: Task, value: TaskProgress): Promise<void>;
  renewLeases(): Promise<number>;
  /** Wakes up to `n` of this instance's idle waits (a local push, a type resumed here). */
  wakeLocal(n: number): void;
  /** Types its claims just found nothing of (each backend knows when it has looked): the rate-limited ones are skipped below. */
  readonly emptyTypes: EmptyTypes;
}

/** A durable backend's reader of cluster events; closed on module destroy. */
export type ClusterEventFeed = ClusterEventSource & { close(): void };
/** Where a durable backend keeps its flows (see DatabaseFlows). */
export interface FlowStore {
  push<P>(flow: FlowInput<P>): Promise<FlowIds>;
  tree(rootId: string): Promise<FlowNode>;
  childResults(task: Task): Promise<Record<string, ChildResult>>;
}

/** Where a durable backend keeps the paused task types: a table, a Redis set. */
export interface PausedTypesStore {
  load(): Promise<string[]>;
  pause(type: string): Promise<void>;
  resume(type: string): Promise<void>;
}

/**
 * What the database and Redis backends share: an instance name for their
 * leases, async store types, onIdle by polling, and the QueueConsumer
 * methods handed to their consumer object.
 */
export abstract class DurableTaskQueue extends TaskQueue {
  /** This instance's name in its leases (`lease_owner` on the database, the lock tokens on Redis). */
  readonly owner = `${processName}:${randomBytes(3).toString('hex')}`;

  /** Tasks pending (retries waiting included) or running, on any instance. */
  protected abstract unfinished(): Promise<number>;

  private readonly idle = new IdleWaiters(this.taskEvents);

  /** The app has shut down: its connections are closing or closed. */
  private appShutDown = false;

  /** Nest's last hook (the workers drained before it): from here a push would meet a closed driver, an untyped error. */
  onApplicationShutdown(): void | Promise<void> {
    this.appShutDown = true;
  }

  /** A push's input, or QueueClosedError once the app has shut down; nothing is written either way. */
  protected whileOpen<T extends PushTaskInput>(input: T): T {
    if (this.appShutDown) throw new QueueClosedError(undefined, `cannot queue a task of type ${describeValue(input?.type)}: the queue closed with the app`);
    return input;
  }

  /**
   * Polls until no task is pending or running on any instance: other
   * processes finish tasks too, so no local signal can say when that is.
   */
  onIdle(pollMs = 50): Promise<void> {
    return this.idle.poll(() => this.unfinished(), pollMs);
  }

  /** The backend's reader of cluster events, made with the first use of clusterEvents$ or onTaskFinished. */
  protected abstract readonly createClusterEvents: () => ClusterEventFeed;
  private clusterFeed?: ClusterEventSource;

  protected override clusterEventSource(): ClusterEventSource | undefined {
    if (!this.options.queue.clusterEvents) return undefined;
    if (!this.clusterFeed) {
      const feed = (this.clusterFeed = this.createClusterEvents());
      // each backend ends its event stream on module destroy, before its connections close: the readers end there too
      this.taskEvents.onComplete(() => feed.close());
    }
    return this.clusterFeed;
  }

  /** The backend's flows (DatabaseFlows, RedisFlows); a backend without them would refuse pushFlow and getFlow, writing nothing. */
  protected readonly flows: FlowStore | undefined = undefined;

  pushFlow<P>(flow: FlowInput<P>): Promise<FlowIds> {
    if (this.flows === undefined) return Promise.reject(new NotSupportedError('pushFlow (flows)', this.options.queue.backend));
    return this.flows.push(flow);
  }

  getFlow(rootId: string): Promise<FlowNode> {
    if (this.flows === undefined) return Promise.reject(new NotSupportedError('getFlow (flows)', this.options.queue.backend));
    // MySQL compares a number with the id column as numbers: getFlow(7) found the tree of '7-report'
    return storableKey(rootId) ? this.flows.tree(rootId) : Promise.reject(new TaskNotFoundError(rootId));
  }

  /** `{}` for a task that is no flow's parent; no flows, no parents. */
  childResults(task: Task): Promise<Record<string, ChildResult>> {
    return this.flows === undefined ? Promise.resolve({}) : this.flows.childResults(task);
  }

  protected abstract readonly consumer: DurableConsumer;
  protected abstract readonly pausedStore: PausedTypesStore;
  protected abstract readonly logger: LibraryLogger;
  protected abstract readonly options: ResolvedOptions;
  private pausedTypes?: PausedTypes;

  /** The paused types as last read: again from the store once queue.pollIntervalMs old, on the next claim. */
  protected get paused(): PausedTypes {
    return (this.pausedTypes ??= new PausedTypes(() => this.pausedStore.load(), this.options.queue.pollIntervalMs, (types) => this.typesPaused(types)));
  }

  /** Another instance paused `types` (or this one did): a backend holding work of them aside gives it back. */
  protected typesPaused(_types: ReadonlySet<string>): void {}

  async pauseType(type: string): Promise<void> {
    const name = pausableType(type);
    await this.pausedStore.pause(name);
    this.paused.add(name);
    this.logger.log(`task type ${JSON.stringify(name)} paused: no instance starts its tasks until resumeType; running ones finish, pushes are kept`);
  }

  async resumeType(type: string): Promise<void> {
    const name = pausableType(type);
    await this.pausedStore.resume(name);
    this.paused.delete(name);
    this.logger.log(`task type ${JSON.stringify(name)} resumed`);
    this.consumer.wakeLocal(Infinity);
  }

  /** Read from the store, so it is what every instance goes by (each within one poll). */
  async listPausedTypes(): Promise<string[]> {
    return [...new Set(await this.pausedStore.load())].sort();
  }

  /** Where this backend counts the starts of rate-limited types, for every instance. */
  protected abstract readonly permitStore: PermitStore;
  private rated?: RateLimitedClaims;
  private rateLimited?: ReadonlyMap<string, RateLimit>;

  claim(filter: ClaimFilter, limit: number): Promise<Task[]> {
    const reading = this.paused.refresh();
    if (reading || filter.rateLimits !== undefined) return this.claimSlowly(filter, limit, reading);
    return this.consumer.claim(this.paused.apply(filter), limit);
  }

  private async claimSlowly(filter: ClaimFilter, limit: number, reading: Promise<void> | undefined): Promise<Task[]> {
    await reading;
    const claimable = this.withoutEmpty(this.paused.apply(filter));
    if (claimable.rateLimits === undefined) return this.consumer.claim(claimable, limit);
    this.rated ??= new RateLimitedClaims(
      this.permitStore,
      (task, runAt) => this.consumer.release(task, runAt),
      (type, over, windowEnd) =>
        this.logger.warn(
          `a claim of rate-limited type ${JSON.stringify(type)} ended after the window of its permits, and the next window had none left for ${over.length} of its tasks: put back, without using an attempt, until ${new Date(windowEnd).toISOString()}: ${over.map(taskLabel).join(', ')}`,
        ),
    );
    this.rateLimited = claimable.rateLimits;
    return this.rated.claim(claimable as ClaimFilter & { rateLimits: ReadonlyMap<string, RateLimit> }, limit, (f) => this.consumer.claim(f, limit));
  }

  /** Rate-limited types the consumer just found empty are left out: their permits would be taken and given back unused. */
  private withoutEmpty(filter: ClaimFilter): ClaimFilter {
    const empty = this.consumer.emptyTypes;
    const skip = (type: string): boolean => filter.rateLimits!.has(type) && empty.has(type);
    return filter.rateLimits && filter.types.some(skip) ? { ...filter, types: filter.types.filter((t) => !skip(t)) } : filter;
  }

  /**
   * Types held back by their rate limit are due when their window ends: no idle wait lasts longer.
   * An idle pool asks every type again: a type skipped as empty is then looked at within the poll.
   */
  waitForWork(filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void> {
    this.consumer.emptyTypes.clear();
    const untilWindow = filter.rateLimits && this.rated ? Math.max(1, this.rated.wakeAt - Date.now()) : Infinity;
    return this.consumer.waitForWork(filter, Math.min(timeoutMs, untilWindow), signal);
  }

  /** A rate-limited type's next job is not fetched along with a completion: it needs a permit first. */
  protected fetchesAlong(type: string): boolean {
    return !this.paused.has(type) && !this.rateLimited?.has(type);
  }

  /** A flow child's end may have released its parent, whose type may be one skipped as empty: every type is asked again. */
  complete(task: Task, result: unknown, durationMs: number): Promise<void> {
    const done = this.consumer.complete(task, result, durationMs);
    return task.parentId === undefined ? done : done.then(() => this.consumer.emptyTypes.clear());
  }

  fail(task: Task, error: Error, retryAt: Date | null, durationMs: number | undefined): Promise<void> {
    const done = this.consumer.fail(task, error, retryAt, durationMs);
    return task.parentId === undefined || retryAt ? done : done.then(() => this.consumer.emptyTypes.clear());
  }

  release(task: Task, runAt?: Date): Promise<void> {
    return this.consumer.release(task, runAt);
  }

  progress(task: Task, value: TaskProgress): Promise<void> {
    return this.consumer.progress(task, value);
  }

  /** Extends the leases of every task this instance runs (the database's lease rows, Redis's job locks). */
  renewLeases(): Promise<number> {
    return this.consumer.renewLeases();
  }
}

/** The warning of a try whose lease another worker took over: its outcome is dropped, never written over the new try's. */
export function lostLeaseWarning(task: Task, outcome: string): string {
  return `${taskLabel(task)}: attempt ${task.attempts} ended (${outcome}) after its lease was lost; another worker owns the task now, so this outcome is not recorded`;
}
