import { answerWithin } from '../deadline';
import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { TaskHandlerRegistry } from '../handlers/task-handler.registry';
import type { ResolvedOptions } from '../interfaces/options.interface';
import { RESOLVED_OPTIONS } from '../queue-scheduler.constants';
import { LibraryLogger } from '../queue-scheduler.logger';
import { type ClaimFilter, QueueConsumer } from '../queue/queue-consumer';
import { TaskQueue } from '../queue/task-queue';
import { SchedulerService } from '../scheduler/scheduler.service';
import { WorkerPool } from './worker-pool';

/**
 * The worker pool's place in the Nest lifecycle: started once every module
 * has initialised (handlers are registered by then), drained before the
 * host's DataSource closes.
 * @publicApi
 */
@Injectable()
export class WorkerPoolService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger: LibraryLogger;
  private readonly pool: WorkerPool;

  constructor(
    private readonly queue: TaskQueue,
    consumer: QueueConsumer,
    private readonly registry: TaskHandlerRegistry,
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    @Optional() private readonly scheduler?: SchedulerService,
  ) {
    this.logger = new LibraryLogger(WorkerPoolService.name, options.logLevel);
    this.pool = new WorkerPool(consumer, registry, options, this.logger);
  }

  /** Tasks running now. */
  get busy(): number {
    return this.pool.busy;
  }

  /** Consumers started (0 when stopped or disabled). */
  get size(): number {
    return this.pool.size;
  }

  get running(): boolean {
    return this.pool.started;
  }

  /** @internal see WorkerPool.claimFilter */
  get claimFilter(): ClaimFilter {
    return this.pool.claimFilter;
  }

  async onApplicationBootstrap(): Promise<void> {
    // before the first claim, or a worker could start a task of a type declared paused
    for (const handler of this.registry.all()) if (handler.paused) await this.queue.pauseType(handler.type);
    if (this.options.autoStart && this.options.workers.enabled) this.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    // the scheduler's own hook runs beside this one: what it gives back to its schedules (memory) is not counted as lost
    await this.drain(this.scheduler?.stop());
  }

  start(): void {
    this.pool.start();
  }

  /** Stops taking tasks and drains in-flight ones (see `shutdownTimeoutMs`). */
  stop(): Promise<void> {
    return this.drain();
  }

  /** stop(); `before` is settled before the tasks left are counted for the log line. */
  private async drain(before?: Promise<void>): Promise<void> {
    const wasRunning = this.pool.started;
    await this.pool.stop();
    await before?.catch(() => undefined);
    if (!wasRunning) return;
    // a count for a log line: not worth waiting for a backend that is away (ioredis holds the command until Redis is back)
    const pending = this.queue.capabilities.durable ? await answerWithin(Promise.resolve(this.queue.getQueueSize()), 1000) : await this.queue.getQueueSize();
    if (pending === undefined) {
      this.logger.log('workers stopped; the queue did not answer how many tasks are pending');
    } else if (!this.queue.capabilities.durable && pending > 0) {
      this.logger.warn(`workers stopped with ${pending} task(s) still pending in memory; they are lost when the process exits`);
    } else {
      this.logger.log(`workers stopped; ${pending} task(s) pending in the queue`);
    }
  }
}
