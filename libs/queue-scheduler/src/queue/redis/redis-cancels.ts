import type { Redis } from 'ioredis';
import type { TaskRecord } from '../../interfaces/task.interface';
import type { LibraryLogger } from '../../queue-scheduler.logger';
import { isLockError, taskOf } from './redis-jobs';
import { RedisKeys } from './redis-keys';
import type { Lease } from './redis-leases';
import type { RedisConnection } from './redis-connection';

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

  constructor(
    private readonly redis: () => RedisConnection,
    prefix: string,
    private readonly logger: LibraryLogger,
  ) {
    this.channel = new RedisKeys(prefix).cancelChannel;
  }

  listen(onCancel: (taskId: string) => void): void {
    const subscriber = (this.subscriber = this.redis().client.duplicate());
    subscriber.on('message', (_channel: string, taskId: string) => onCancel(taskId));
    subscriber.subscribe(this.channel).catch((err: unknown) => this.logger.error(`cancel requests will not reach this instance: ${(err as Error).message}`, err));
  }

  async request(taskId: string): Promise<void> {
    await this.redis().client.publish(this.channel, taskId);
  }

  /** Ends a leased job as cancelled: its record kept with the cancelled ones, the job itself removed. */
  async record(lease: Lease): Promise<void> {
    const record: TaskRecord = { ...taskOf(lease.job), status: 'cancelled', startedAt: lease.job.processedOn ? new Date(lease.job.processedOn) : undefined, completedAt: new Date() };
    await this.redis().keys.markCancelled(record);
    try {
      // BullMQ removes no locked job: the completion releases the lock, and nothing is fetched along
      await lease.job.moveToCompleted(null, lease.token, false);
      await lease.job.remove();
    } catch (err) {
      if (!isLockError(err)) throw err;
    }
  }

  close(): void {
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }
}
