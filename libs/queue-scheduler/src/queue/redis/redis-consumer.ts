import type { Job, Worker } from 'bullmq';
import type { ResolvedOptions } from '../../interfaces/options.interface';
import type { Task, TaskEvent, TaskEventKind } from '../../interfaces/task.interface';
import { type LibraryLogger, taskLabel } from '../../queue-scheduler.logger';
import type { ClaimFilter } from '../task-queue';
import { Waiters } from '../waiters';
import type { RedisConnection } from './redis-connection';
import { taskOf } from './redis-jobs';
import { taskIdOf } from './redis-keys';

/** A job this instance holds: the BullMQ lock token proves it to Redis. */
interface Lease {
  readonly job: Job;
  readonly token: string;
  readonly task: Task;
}

export type EmitEvent = (kind: TaskEventKind, task: Pick<Task, 'taskId' | 'type' | 'schedulerTaskId' | 'scheduledAt'> & { attempts?: number }, extra?: Partial<TaskEvent>) => void;

/**
 * The consumer half of the redis backend, driving BullMQ Workers by hand:
 * a claim is `getNextJob`, outcomes are `moveToCompleted` / `moveToFailed` /
 * `moveToWait`, a lease is the job lock, renewed with `extendJobLocks`.
 */
export class RedisConsumer {
  private readonly leased = new Map<string, Lease>();
  private readonly waiters = new Waiters();
  private readonly wakeTimers = new Set<NodeJS.Timeout>();
  private renewTimer?: NodeJS.Timeout;
  private tokens = 0;
  private pushes = 0;
  private pushesAtClaim = -1;
  private emptyClaims = 0;
  /** Rotates the first type a claim looks at, so one busy type cannot starve the others. */
  private turn = 0;

  constructor(
    private readonly owner: string,
    private readonly redis: () => RedisConnection,
    private readonly options: ResolvedOptions,
    private readonly logger: LibraryLogger,
    private readonly emit: EmitEvent,
  ) {}

  stop(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    for (const timer of this.wakeTimers) clearTimeout(timer);
    this.wakeTimers.clear();
    this.waiters.wakeAll();
  }

  /**
   * Fetches jobs of the filter's types from their BullMQ queues, each under
   * its free slots. A job fetched is leased here, so it must reach the pool:
   * a failing fetch (Redis away) ends the claim with what was taken so far.
   */
  async claim(filter: ClaimFilter, limit: number): Promise<Task[]> {
    this.pushesAtClaim = this.pushes;
    const claimed: Task[] = [];
    const types = filter.types;
    try {
      for (let i = 0; i < types.length && claimed.length < limit; i++) {
        const type = types[(this.turn + i) % types.length];
        const room = Math.min(limit - claimed.length, filter.remaining?.get(type) ?? Infinity);
        if (room > 0) await this.fetch(this.redis().workerFor(type), room, claimed);
      }
    } catch (err) {
      if (!claimed.length) throw err;
      this.logger.warn(`claim stopped after ${claimed.length} task(s): ${(err as Error).message}`);
    } finally {
      this.turn++;
      this.emptyClaims = claimed.length ? 0 : this.emptyClaims + 1;
      this.armRenewal();
    }
    return claimed;
  }

  /** One fetch first; only when the queue had a job are the other slots fetched at once (BullMQ moves each atomically). */
  private async fetch(worker: Worker, room: number, into: Task[]): Promise<void> {
    const first = await this.take(worker);
    if (!first) return;
    into.push(first);
    if (room === 1) return;
    const rest = await Promise.allSettled(Array.from({ length: room - 1 }, () => this.take(worker)));
    for (const r of rest) if (r.status === 'fulfilled' && r.value) into.push(r.value);
    const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async take(worker: Worker): Promise<Task | undefined> {
    const token = `${this.owner}:${++this.tokens}`;
    const job = (await worker.getNextJob(token, { block: false })) as Job | undefined;
    if (!job) return undefined;
    const task = taskOf(job);
    this.leased.set(task.taskId, { job, token, task });
    if (job.attemptsMade > 0) {
      // only the `failed` count depends on it; the task must reach the pool whatever happens here
      this.redis().keys.forgetRetry(task.taskId).catch((err: unknown) => this.logger.warn(`${taskLabel(task)}: ${(err as Error).message}`));
    }
    this.emit('started', task);
    return task;
  }

  /** Sleeps until a local push, or the poll time: short right after work, doubling while empty, up to queue.pollIntervalMs. */
  waitForWork(_filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.pushes !== this.pushesAtClaim) return Promise.resolve();
    const backoff = Math.min(this.options.queue.pollIntervalMs, 25 * 2 ** Math.min(this.emptyClaims, 10));
    return this.waiters.wait(Math.min(timeoutMs, backoff), signal);
  }

  async complete(task: Task, result: unknown, durationMs: number): Promise<void> {
    const lease = this.takeLease(task);
    if (!lease) return this.lostLease(task, 'succeeded');
    try {
      await lease.job.moveToCompleted(jsonSafe(result), lease.token, false);
    } catch (err) {
      if (isLockError(err)) return this.lostLease(task, 'succeeded');
      throw err;
    }
    this.emit('succeeded', task, { durationMs });
  }

  /**
   * The runner has decided (the handler's retry policy, jitter and cap);
   * BullMQ's attempts and backoff carry it out: one more attempt with a
   * fixed delay up to `retryAt`, or none, which leaves the job failed (dead).
   */
  async fail(task: Task, error: Error, retryAt: Date | null, durationMs: number): Promise<void> {
    const lease = this.takeLease(task);
    if (!lease) return this.lostLease(task, retryAt ? 'retrying' : 'dead');
    const { job } = lease;
    job.opts.attempts = job.attemptsMade + (retryAt ? 2 : 1);
    job.opts.backoff = { type: 'fixed', delay: retryAt ? Math.max(1, retryAt.getTime() - Date.now()) : 0 };
    if (retryAt) await this.redis().keys.markRetry(task.taskId);
    try {
      await job.moveToFailed(new Error(error.message.slice(0, 8000)), lease.token, false);
    } catch (err) {
      if (isLockError(err)) return this.lostLease(task, retryAt ? 'retrying' : 'dead');
      throw err;
    }
    this.emit(retryAt ? 'retrying' : 'dead', task, { durationMs, error: error.message, retryAt: retryAt ?? undefined });
    if (retryAt) this.wakeAt(retryAt);
  }

  /** Back to waiting without using an attempt (moveToWait does not count one). */
  async release(task: Task): Promise<void> {
    const lease = this.takeLease(task);
    if (!lease) return;
    await lease.job.moveToWait(lease.token);
    this.wakeLocal(1);
  }

  /** Extends the locks of every job this instance runs, one call per task type. */
  async renewLeases(): Promise<number> {
    const byType = new Map<string, Lease[]>();
    for (const lease of this.leased.values()) byType.set(lease.task.type, [...(byType.get(lease.task.type) ?? []), lease]);
    let renewed = 0;
    for (const [type, leases] of byType) {
      const failed = await this.redis().workerFor(type).extendJobLocks(leases.map((l) => l.job.id!), leases.map((l) => l.token), this.options.queue.leaseMs);
      renewed += leases.length - (Array.isArray(failed) ? failed.length : 0);
    }
    return renewed;
  }

  private takeLease(task: Task): Lease | undefined {
    const lease = this.leased.get(task.taskId);
    // a lease of an earlier try (lost and re-claimed here) is not this try's
    if (!lease || lease.task.attempts !== task.attempts) return undefined;
    this.leased.delete(task.taskId);
    return lease;
  }

  private armRenewal(): void {
    if (this.renewTimer || this.leased.size === 0) return;
    this.renewTimer = setInterval(() => {
      if (this.leased.size === 0) {
        clearInterval(this.renewTimer);
        this.renewTimer = undefined;
        return;
      }
      this.renewLeases().catch((err: unknown) => this.logger.error(`lease renewal failed: ${(err as Error).message}`, err));
    }, Math.floor(this.options.queue.leaseMs / 3));
    this.renewTimer.unref();
  }

  wakeLocal(n: number): void {
    this.pushes++;
    this.waiters.wake(n);
  }

  /** A delayed or retried task of this instance starts on time rather than at the next poll. */
  wakeAt(at: Date): void {
    const timer = setTimeout(() => {
      this.wakeTimers.delete(timer);
      this.wakeLocal(1);
    }, Math.max(0, Math.min(at.getTime() - Date.now(), 2_147_483_647)));
    timer.unref();
    this.wakeTimers.add(timer);
  }

  onStalled(jobId: string, type: string): void {
    this.logger.warn(`task ${taskIdOf(jobId)} (${type}): its worker stopped renewing the lock; BullMQ queued it again (the lost try uses no attempt, but counts towards the stall limit)`);
    this.wakeLocal(1);
  }

  private lostLease(task: Task, outcome: string): void {
    this.logger.warn(`${taskLabel(task)}: attempt ${task.attempts} ended (${outcome}) after its lease was lost; another worker owns the task now, so this outcome is not recorded`);
  }
}

function isLockError(err: unknown): boolean {
  return /lock/i.test(String((err as Error)?.message));
}

/** BullMQ stores the result as JSON; a value JSON cannot hold is kept as its string, as on the database backend. */
function jsonSafe(value: unknown): unknown {
  if (value === undefined) return null;
  try {
    JSON.stringify(value);
    return value;
  } catch {
    return String(value);
  }
}
