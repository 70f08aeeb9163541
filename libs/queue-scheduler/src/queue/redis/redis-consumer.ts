import type { Job, Worker } from 'bullmq';
import type { ResolvedOptions } from '../../interfaces/options.interface';
import type { Task, TaskProgress } from '../../interfaces/task.interface';
import { type LibraryLogger, taskLabel } from '../../queue-scheduler.logger';
import type { ClaimFilter } from '../queue-consumer';
import { IdlePoll } from '../idle-poll';
import type { RedisConnection } from './redis-connection';
import { lostLeaseWarning } from '../durable-queue';
import { isLockError, type JobData, progressOf, taskOf } from './redis-jobs';
import { LostTryWrites, retriedData, storedFailure } from './redis-tries';
import { RedisLeases } from './redis-leases';
import { EmptyTypes } from '../empty-types';
import { taskIdOf } from './redis-keys';
import { retryingEvent } from './redis-event-marks';
import { WakeTimers } from '../wake-timers';
import { condemn, type CondemnHost, type EmitEvent, endMarkedParent, releasedEarly } from './redis-condemn';
import { firstSendRan, lockedUnder } from './redis-lost-reply';
import { takeInWaves } from './redis-fetch-waves';
import type { QueueTracing } from '../../tracing/queue-tracing';

/**
 * The consumer half of the redis backend, driving BullMQ Workers by hand:
 * a claim is `getNextJob`, outcomes are `moveToCompleted` / `moveToFailed` /
 * `moveToWait`, a lease is the job lock, renewed with `extendJobLocks`.
 *
 * A completion also fetches the next job of its type in the same script (BullMQ's fetch-next, as its own Worker
 * does): that job waits here, leased, for the pool's next claim. A task then costs Redis one script to
 * finish and start the next instead of two, which is what BullMQ costs. The jobs it holds, their renewal and
 * give-back are RedisLeases's.
 */
export class RedisConsumer implements CondemnHost {
  readonly leases: RedisLeases;
  /** Off once shutdown begins: a job fetched then would only have to be given back. */
  private fetchNext = true;
  fetchesAlong: (type: string) => boolean = () => true;
  /** Told of the tasks each claim hands the pool (cancel requests heard before, see RedisCancels). */
  handedOut: (tasks: readonly Task[]) => void = () => undefined;
  /** How a flow child's failure mark reads (set by the queue to RedisFlows.childFailure). */
  childFailure: (deferred: string) => Promise<string | undefined> = () => Promise.resolve(undefined);
  readonly maxLostTries: number;
  readonly leaseMs: number;
  private readonly idle: IdlePoll;
  private readonly wakeTimers = new WakeTimers(() => this.wakeLocal(1));
  readonly emptyTypes = new EmptyTypes();
  private tokens = 0;
  /** Rotates the first type a claim looks at, so one busy type cannot starve the others. */
  private turn = 0;
  private readonly lostWrites = new LostTryWrites();

  constructor(
    private readonly owner: string,
    readonly redis: () => RedisConnection,
    private readonly options: ResolvedOptions,
    readonly logger: LibraryLogger,
    readonly emit: EmitEvent,
    readonly tracing: QueueTracing | undefined,
  ) {
    this.maxLostTries = options.queue.maxLostTries;
    this.leaseMs = options.queue.leaseMs;
    this.idle = new IdlePoll(options.queue.pollIntervalMs);
    this.leases = new RedisLeases(redis, options.queue.leaseMs, logger);
  }

  stop(): void {
    this.fetchNext = false;
    this.leases.stop();
    this.wakeTimers.clear();
    this.idle.wakeAll();
  }

  /**
   * Fetches jobs of the filter's types from their BullMQ queues, each under
   * its free slots. A job fetched is leased here, so it must reach the pool:
   * a failing fetch (Redis away) ends the claim with what was taken so far.
   */
  async claim(filter: ClaimFilter, limit: number): Promise<Task[]> {
    this.idle.claiming();
    const claimed: Task[] = [];
    const types = filter.types;
    const version = this.emptyTypes.version;
    try {
      for (let i = 0; i < types.length && claimed.length < limit; i++) {
        const type = types[(this.turn + i) % types.length];
        const room = Math.min(limit - claimed.length, filter.remaining?.get(type) ?? Infinity) - this.handAhead(type, limit, filter, claimed);
        // every empty type is skipped here, not only the rate-limited ones the shared claim leaves out: each costs a round trip
        if (room > 0 && !this.emptyTypes.has(type)) await this.fetch(type, room, claimed, version);
      }
    } catch (err) {
      if (!claimed.length) throw err;
      this.logger.warn(`claim stopped after ${claimed.length} task(s): ${(err as Error).message}`);
    } finally {
      this.turn++;
      this.idle.claimed(claimed.length);
      this.leases.arm();
      this.handedOut(claimed);
    }
    return claimed;
  }

  /** Hands the pool the jobs of `type` fetched ahead, within its room; returns how many. */
  private handAhead(type: string, limit: number, filter: ClaimFilter, into: Task[]): number {
    const tasks = this.leases.takeAhead(type, Math.min(limit - into.length, filter.remaining?.get(type) ?? Infinity));
    for (const task of tasks) {
      this.emit('started', task);
      into.push(task);
    }
    return tasks.length;
  }

  /** Keeps the job a completion fetched along (its raw reply, or the job read back: see firstSendRan), leased, for the next claim. */
  private keepAhead(type: string, fetched: unknown[] | Job | undefined, token: string): void {
    let job: Job | undefined;
    try {
      job = Array.isArray(fetched) ? this.redis().fetchedJob(type, fetched, token) : fetched;
    } catch (err) {
      // locked to us but not kept: BullMQ's stalled check gives it back once the lock runs out
      this.logger.warn(`a job of type '${type}' fetched with a completion could not be read, it returns after its lock: ${(err as Error).message}`);
      return;
    }
    if (!job) return;
    if (job.deferredFailure || releasedEarly(job)) {
      this.condemn(job, token).catch((err: unknown) => this.logger.warn(`${taskLabel(taskOf(job, false))}: ${(err as Error).message}`));
      return;
    }
    this.leases.keepAhead(type, this.leases.add(job, token));
    this.leases.arm();
    // not wakeLocal: this job is no news about the other types' queues (see EmptyTypes)
    this.idle.pushed(1);
  }

  /** One fetch first; only when the queue had a job are the other slots fetched, in waves (BullMQ moves each atomically). */
  private async fetch(type: string, room: number, into: Task[], version: number): Promise<void> {
    const worker = this.redis().workerFor(type);
    const first = await this.take(worker, type);
    if (!first) return this.emptyTypes.mark(type, version);
    into.push(first);
    await takeInWaves(room - 1, () => this.take(worker, type), into);
  }

  private async take(worker: Worker, type: string): Promise<Task | undefined> {
    for (;;) {
      const token = this.nextToken();
      const drops = this.redis().drops;
      const job = (await worker.getNextJob(token, { block: false })) as Job | undefined;
      // the connection dropped meanwhile, and ioredis sent the fetch again: a job its first send took waits under this token
      if (this.redis().drops !== drops) this.keepAhead(type, await lockedUnder(this.redis(), type, token, job?.id), token);
      if (!job) return undefined;
      if (job.deferredFailure || releasedEarly(job)) {
        await this.condemn(job, token);
        continue;
      }
      const { task } = this.leases.add(job, token);
      this.emit('started', task);
      return task;
    }
  }

  /** A job marked with a deferred failure, failed without running (see condemn); a flow parent released early, put back. */
  private async condemn(job: Job, token: string): Promise<void> {
    if (job.deferredFailure) return condemn(this, job, token);
    const runAt = (job.data as JobData).runAt!;
    await job.moveToDelayed(runAt, token);
    this.wakeAt(new Date(runAt));
  }

  /** Sleeps until a local push, or the poll time: short right after work, doubling while empty, up to queue.pollIntervalMs. */
  waitForWork(_filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void> {
    return this.idle.wait(timeoutMs, signal);
  }

  async complete(task: Task, result: unknown, durationMs: number): Promise<void> {
    const lease = this.leases.take(task);
    if (!lease) return this.lostLease(task, 'succeeded');
    let next: unknown;
    try {
      next = await lease.job.moveToCompleted(result ?? null, lease.token, this.fetchNext && this.fetchesAlong(task.type));
    } catch (err) {
      if (!isLockError(err)) throw err;
      next = await firstSendRan(this.redis(), task.type, lease.job, lease.token);
      if (next === false) return this.lostLease(task, 'succeeded');
    }
    this.emit('succeeded', task, { durationMs });
    if (Array.isArray(next) || next instanceof Object) this.keepAhead(task.type, next as unknown[] | Job, lease.token);
  }

  /**
   * The runner has decided (the handler's retry policy, jitter and cap);
   * BullMQ's attempts and backoff carry it out: one more attempt with a
   * fixed delay up to `retryAt`, or none, which leaves the job failed (dead).
   */
  async fail(task: Task, error: Error, retryAt: Date | null, durationMs: number | undefined): Promise<void> {
    const lease = this.leases.take(task);
    if (!lease) return this.lostLease(task, retryAt ? 'retrying' : 'dead');
    const { job } = lease;
    job.opts.attempts = job.attemptsMade + (retryAt ? 2 : 1);
    if (retryAt) {
      await Promise.all([this.redis().keys.markRetry(task.taskId), this.redis().addEvent(task.type, retryingEvent(job.id!, task.attempts, error.message))]);
      await job.updateData(await retriedData(this.redis(), job, this.owner, error, retryAt.getTime(), this.lostWrites));
    }
    // BullMQ makes the retry due at its own now + this delay: measured after the writes above, and woken for below
    job.opts.backoff = { type: 'fixed', delay: retryAt ? Math.max(1, retryAt.getTime() - Date.now()) : 0 };
    try {
      await job.moveToFailed(storedFailure(job, error), lease.token, false);
    } catch (err) {
      if (isLockError(err)) return this.lostLease(task, retryAt ? 'retrying' : 'dead');
      throw err;
    }
    this.emit(retryAt ? 'retrying' : 'dead', task, { durationMs, error: error.message, retryAt: retryAt ?? undefined });
    // not before it is due by BullMQ's clock, which read its now during the call: a wake at retryAt could find it 1 ms short
    if (retryAt) this.wakeAt(new Date(Date.now() + job.opts.backoff.delay!));
    else await endMarkedParent(this, job);
  }

  /** Back to waiting without using an attempt (moveToWait does not count one). */
  async release(task: Task, runAt?: Date): Promise<void> {
    const lease = this.leases.take(task);
    if (!lease) return;
    // a record's runAt is the job's data: BullMQ's moveToDelayed leaves it, and the job's delay, as first pushed
    if (runAt) await lease.job.updateData({ ...(lease.job.data as JobData), runAt: runAt.getTime() });
    if (runAt) return void (await lease.job.moveToDelayed(runAt.getTime(), lease.token), this.wakeAt(runAt));
    await lease.job.moveToWait(lease.token);
    this.wakeLocal(1);
  }

  async progress(task: Task, value: TaskProgress): Promise<void> {
    const lease = this.leases.held(task);
    if (!lease) return;
    await lease.job.updateProgress(progressOf(value));
    this.emit('progress', task, { progress: value });
  }

  /** Extends the locks of every job this instance runs, one call per task type. */
  renewLeases(): Promise<number> {
    return this.leases.renew();
  }

  wakeLocal(n: number): void {
    this.emptyTypes.clear();
    this.idle.pushed(n);
  }

  /** A delayed or retried task of this instance starts on time rather than at the next poll. */
  wakeAt(at: Date): void {
    this.wakeTimers.at(at);
  }

  onStalled(jobId: string, type: string): void {
    this.logger.warn(`task ${taskIdOf(jobId)} (${type}): its worker stopped renewing the lock; BullMQ queued it again (a lost try uses no attempt; once more than queue.maxLostTries (${this.maxLostTries}) were lost, it is dead at its next claim)`);
    this.lostWrites.store(this.redis(), type, jobId, (err) => this.logger.warn(`task ${taskIdOf(jobId)}: its lost try was not stored: ${err.message}`), () => this.wakeLocal(1));
  }

  nextToken(): string {
    return `${this.owner}:${++this.tokens}`;
  }

  lostLease(task: Task, outcome: string): void {
    this.logger.warn(lostLeaseWarning(task, outcome));
  }
}
