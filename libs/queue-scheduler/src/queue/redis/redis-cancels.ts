import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Task } from '../../interfaces/task.interface';
import { lostLeaseWarning } from '../durable-queue';
import type { RedisStatus } from './redis-status';
import type { LibraryLogger } from '../../queue-scheduler.logger';
import { isLockError } from './redis-jobs';
import { cancelledRecord } from './redis-tries';
import { RedisKeys } from './redis-keys';
import type { Lease } from './redis-leases';
import type { RedisConnection } from './redis-connection';
import { CANCELLED_DEFERRED, CANCELLED_RESULT } from './redis-event-marks';
import { closeRedis } from './redis-close';

/** How long a request for a job not started here is kept: a fetch's reply, or a job fetched ahead, is that close. */
const EARLY_REQUEST_MS = 30_000;

/**
 * Cancel requests for running tasks on the Redis backend: published on one
 * channel under the app's prefix, so the instance running the task hears it
 * at once (a subscriber connection per instance). A request published while
 * an instance is disconnected does not reach it; the task then ends as its
 * handler decides.
 */
export class RedisCancels {
  private subscriber?: Redis;
  private readonly channel: string;
  private onCancel?: (taskId: string) => boolean;
  /** Requests heard before their job's try started here, oldest first (see heard). */
  private readonly early = new Map<string, { startedOn: number; at: number }>();

  constructor(
    private readonly redis: () => RedisConnection,
    prefix: string,
    private readonly logger: LibraryLogger,
    /** A flow child failed as cancelled: its parent, marked to die of it under 'fail', is ended now (endMarkedParent). */
    private readonly failedChild: (job: Job) => Promise<void>,
  ) {
    this.channel = new RedisKeys(prefix).cancelChannel;
  }

  /** `onCancel`: the pool's; true when a try of the task runs here and was asked to stop. */
  listen(onCancel: (taskId: string) => boolean): void {
    this.onCancel = onCancel;
    const subscriber = (this.subscriber = this.redis().client.duplicate());
    // its errors are the outage the main connection logs once: unheard, ioredis wrote each to stderr
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_channel: string, message: string) => this.heard(message));
    subscriber.subscribe(this.channel).catch((err: unknown) => this.logger.error(`cancel requests will not reach this instance: ${(err as Error).message}`, err));
  }

  /** Publishes a cancel request when the task's job is active; false when it is not running. */
  async requestIfActive(status: RedisStatus, taskId: string): Promise<boolean> {
    const { job } = await status.find(taskId);
    if (!job || (await job.getState()) !== 'active') return false;
    // the try's processedOn read once it is active: a job that became active between the two reads had none yet
    const active = (await status.find(taskId).catch(() => undefined))?.job ?? job;
    await this.redis().client.publish(this.channel, `${active.processedOn ?? 0}:${taskId}`);
    return true;
  }

  /**
   * A request for an active job no try here runs yet may be for a job this instance fetched and has not started
   * (the fetch's reply on its way, or fetched ahead by a completion): it is kept a while, and asked again once the
   * job is handed to the pool (handedOut). Heard only once, it was lost: cancelTask returned true and the task ran
   * to success (a two-instance audit). The try is told by the job's processedOn (when it became active), which a
   * retry of the same job or a later push of the same id does not share: by the job's timestamp, a request that
   * lost its race to the try's end cancelled the retryTask that followed (regression audit).
   */
  private heard(message: string): void {
    const cut = message.indexOf(':');
    const taskId = message.slice(cut + 1);
    if (this.onCancel?.(taskId)) return;
    const now = Date.now();
    for (const [id, request] of this.early) {
      if (now - request.at < EARLY_REQUEST_MS) break;
      this.early.delete(id);
    }
    this.early.delete(taskId);
    this.early.set(taskId, { startedOn: Number(message.slice(0, cut)), at: now });
  }

  /** Tasks a claim hands the pool, with their jobs' processedOn: one asked to stop before is asked again once the pool has started it. */
  handedOut(tasks: readonly Task[], startedOn: (task: Task) => number | undefined): void {
    if (this.early.size === 0) return;
    for (const task of tasks) {
      const request = this.early.get(task.taskId);
      if (request === undefined || request.startedOn !== startedOn(task)) continue;
      this.early.delete(task.taskId);
      setImmediate(() => this.onCancel?.(task.taskId));
    }
  }

  /** Ends a leased job as cancelled: its record kept with the cancelled ones, the job itself removed; false when the lease was lost. */
  async record(task: Task, lease: Lease | undefined): Promise<boolean> {
    if (!lease) {
      this.logger.warn(lostLeaseWarning(task, 'cancelled'));
      return false;
    }
    const record = cancelledRecord(lease.job, true);
    await this.redis().keys.markCancelled(record);
    const { job } = lease;
    try {
      // BullMQ removes no locked job: the outcome releases the lock, and nothing is fetched along. A flow child
      // ends failed, its last try, so that BullMQ tells its parent as of a failure (a completion would count as a success)
      if (job.parentKey) {
        job.opts.attempts = job.attemptsMade + 1;
        await job.moveToFailed(new Error(CANCELLED_DEFERRED), lease.token, false);
      } else {
        await job.moveToCompleted(CANCELLED_RESULT, lease.token, false);
      }
      await job.remove({ removeChildren: false });
      if (job.parentKey) await this.failedChild(job);
    } catch (err) {
      if (!isLockError(err)) throw err;
    }
    return true;
  }

  async close(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber) await closeRedis(subscriber, 'disconnect');
  }
}
