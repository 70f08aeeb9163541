import type { Job } from 'bullmq';
import type { Task } from '../../interfaces/task.interface';
import { type LibraryLogger, taskLabel } from '../../queue-scheduler.logger';
import { Deque } from '../deque';
import type { RedisConnection } from './redis-connection';
import { taskOf } from './redis-jobs';

/** A job this instance holds: the BullMQ lock token proves it to Redis. */
export interface Lease {
  readonly job: Job;
  readonly token: string;
  readonly task: Task;
}

/**
 * The jobs this instance holds for RedisConsumer: those its workers run,
 * and those fetched along with a completion that wait for the next claim
 * (`ahead`, which the consumer fills and empties). Their locks are renewed
 * every queue.leaseMs / 3 while any is held; at shutdown the ones fetched
 * ahead and never run are given back.
 */
export class RedisLeases {
  private readonly leased = new Map<string, Lease>();
  /** Jobs fetched along with a completion, by type, until a claim hands them to the pool. */
  readonly ahead = new Map<string, Deque<Lease>>();
  private renewTimer?: NodeJS.Timeout;

  constructor(
    private readonly redis: () => RedisConnection,
    private readonly leaseMs: number,
    private readonly logger: LibraryLogger,
  ) {}

  stop(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  /** Holds a job just locked with `token`. */
  add(job: Job, token: string): Lease {
    const task = taskOf(job);
    const lease = { job, token, task };
    this.leased.set(task.taskId, lease);
    if (job.attemptsMade > 0) {
      // only the `failed` count depends on it; the task must reach the pool whatever happens here
      this.redis().keys.forgetRetry(task.taskId).catch((err: unknown) => this.logger.warn(`${taskLabel(task)}: ${(err as Error).message}`));
    }
    return lease;
  }

  /** Keeps a job fetched along with a completion until a claim takes it. */
  keepAhead(type: string, lease: Lease): void {
    let waiting = this.ahead.get(type);
    if (!waiting) this.ahead.set(type, (waiting = new Deque<Lease>()));
    waiting.push(lease);
  }

  /** Up to `room` of the tasks of `type` fetched ahead, oldest first. */
  takeAhead(type: string, room: number): Task[] {
    const waiting = this.ahead.get(type);
    const tasks: Task[] = [];
    if (!waiting) return tasks;
    while (tasks.length < room && waiting.size > 0) tasks.push(waiting.shift()!.task);
    if (waiting.size === 0) this.ahead.delete(type);
    return tasks;
  }

  /** The lease of this try of `task`, still held; undefined when it was lost or given up. */
  held(task: Task): Lease | undefined {
    const lease = this.leased.get(task.taskId);
    return lease && lease.task.attempts === task.attempts ? lease : undefined;
  }

  /** The lease of this try of `task`, no longer held; undefined when it was lost. */
  take(task: Task): Lease | undefined {
    const lease = this.leased.get(task.taskId);
    // a lease of an earlier try (lost and re-claimed here) is not this try's
    if (!lease || lease.task.attempts !== task.attempts) return undefined;
    this.leased.delete(task.taskId);
    return lease;
  }

  /** Gives back the jobs fetched ahead that no claim took (shutdown; `types`: of those types only). */
  async releaseAhead(types?: ReadonlySet<string>): Promise<void> {
    const given = [...this.ahead.keys()].filter((type) => !types || types.has(type));
    const waiting = given.flatMap((type) => [...this.ahead.get(type)!.values()]);
    for (const type of given) this.ahead.delete(type);
    await Promise.all(
      waiting.map(async ({ job, token, task }) => {
        this.leased.delete(task.taskId);
        try {
          await job.moveToWait(token);
        } catch (err) {
          this.logger.warn(`${taskLabel(task)}: fetched ahead and not run; giving it back failed, it returns after its lock: ${(err as Error).message}`);
        }
      }),
    );
  }

  /** Extends the locks of every job this instance holds, one call per task type. */
  async renew(): Promise<number> {
    const byType = new Map<string, Lease[]>();
    for (const lease of this.leased.values()) byType.set(lease.task.type, [...(byType.get(lease.task.type) ?? []), lease]);
    let renewed = 0;
    for (const [type, leases] of byType) {
      const failed = await this.redis().workerFor(type).extendJobLocks(leases.map((l) => l.job.id!), leases.map((l) => l.token), this.leaseMs);
      renewed += leases.length - (Array.isArray(failed) ? failed.length : 0);
    }
    return renewed;
  }

  /** Starts the renewal timer if a job is held; it stops itself once none is. */
  arm(): void {
    if (this.renewTimer || this.leased.size === 0) return;
    this.renewTimer = setInterval(() => {
      if (this.leased.size === 0) {
        clearInterval(this.renewTimer);
        this.renewTimer = undefined;
        return;
      }
      this.renew().catch((err: unknown) => this.logger.error(`lease renewal failed: ${(err as Error).message}`, err));
    }, Math.floor(this.leaseMs / 3));
    this.renewTimer.unref();
  }
}
