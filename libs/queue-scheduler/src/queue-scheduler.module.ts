import { type DynamicModule, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { type Clock, QUEUE_SCHEDULER_CLOCK, systemClock } from './clock';
import { BinaryKeysCheck } from './database/binary-keys';
import { SchemaCheck } from './database/schema-check';
import { SqliteCheckpointer } from './database/sqlite-checkpointer';
import { QUEUE_CLASSES } from './handlers/queue-class-guard';
import { QueueSchedulerExplorer } from './handlers/queue-scheduler.explorer';
import { TaskHandlerRegistry } from './handlers/task-handler.registry';
import { InvalidOptionsError } from './errors/errors';
import { QueueSchedulerHealthService } from './health/queue-scheduler-health.service';
import type { QueueSchedulerModuleOptions, ResolvedOptions } from './interfaces/options.interface';
import { DatabaseQueueService } from './queue/database/database-queue.service';
import { RESOLVED_OPTIONS } from './queue-scheduler.constants';
import { ConfigurableModuleClass, type OPTIONS_TYPE, QUEUE_SCHEDULER_OPTIONS } from './queue-scheduler.module-definition';
import { resolveOptions } from './queue-scheduler.options';
import { QueueSchedulerMetrics } from './metrics/queue-scheduler-metrics';
import { MemoryQueueService } from './queue/memory/memory-queue.service';
import { RedisQueueService } from './queue/redis/redis-queue.service';
import { inactiveQueue } from './queue/inactive-queue';
import { QueueConsumer } from './queue/queue-consumer';
import { TaskQueue } from './queue/task-queue';
import { WorkerPoolService } from './workers/worker-pool.service';

/** The `TaskQueue` every producer, worker and the scheduler use, by `queue.backend`. */
function selectBackend(options: ResolvedOptions, memory: MemoryQueueService, redis: RedisQueueService, database?: DatabaseQueueService): TaskQueue {
  if (options.queue.backend === 'memory') return memory;
  if (options.queue.backend === 'redis') return redis;
  if (!database) {
    throw new InvalidOptionsError('queue.backend', "queue.backend 'database' needs a TypeORM data source, but the module was set up with dataSource: false");
  }
  return database;
}

/**
 * One import gives the app a task queue, a public store, `@TaskHandler`
 * discovery and a worker pool.
 *
 * @example
 * QueueSchedulerModule.forRoot({ workers: { concurrency: 4 } })
 * @publicApi
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: RESOLVED_OPTIONS,
      useFactory: (options: QueueSchedulerModuleOptions) => resolveOptions(options),
      inject: [QUEUE_SCHEDULER_OPTIONS],
    },
    { provide: QUEUE_SCHEDULER_CLOCK, useValue: systemClock },
    // each backend's class is built only when it is the one selected; otherwise an inactive stand-in holds its place
    {
      provide: MemoryQueueService,
      useFactory: (options: ResolvedOptions, clock: Clock) =>
        options.queue.backend === 'memory' ? new MemoryQueueService(options, clock) : inactiveQueue(MemoryQueueService, options.queue.backend),
      inject: [RESOLVED_OPTIONS, QUEUE_SCHEDULER_CLOCK],
    },
    {
      provide: RedisQueueService,
      useFactory: (options: ResolvedOptions) =>
        options.queue.backend === 'redis' ? new RedisQueueService(options) : inactiveQueue(RedisQueueService, options.queue.backend),
      inject: [RESOLVED_OPTIONS],
    },
    // the same instance as its class's token: Nest runs its lifecycle hooks once per token, so each backend's hooks are idempotent
    {
      provide: TaskQueue,
      useFactory: selectBackend,
      inject: [RESOLVED_OPTIONS, MemoryQueueService, RedisQueueService, { token: DatabaseQueueService, optional: true }],
    },
    // the worker pool and the scheduler drive the selected backend through its consumer side
    { provide: QueueConsumer, useExisting: TaskQueue },
    TaskHandlerRegistry,
    // what the explorer's start-up guard refuses to see injected when it is not the selected backend
    { provide: QUEUE_CLASSES, useValue: new Map<unknown, string>([[MemoryQueueService, 'memory'], [DatabaseQueueService, 'database'], [RedisQueueService, 'redis']]) },
    QueueSchedulerExplorer,
    WorkerPoolService,
    QueueSchedulerMetrics,
    QueueSchedulerHealthService,
    BinaryKeysCheck,
    SchemaCheck,
    SqliteCheckpointer,
  ],
  // QueueConsumer and RESOLVED_OPTIONS for the library's own other modules (the dashboard); neither is public API
  exports: [MemoryQueueService, RedisQueueService, TaskQueue, QueueConsumer, RESOLVED_OPTIONS, TaskHandlerRegistry, WorkerPoolService, QUEUE_SCHEDULER_CLOCK, QueueSchedulerMetrics, QueueSchedulerHealthService],
})
export class QueueSchedulerModule extends ConfigurableModuleClass {
  /**
   * The module with `options` (every one has a default, so `forRoot()` is enough).
   * The builder's own forRoot requires an argument and fails on none.
   */
  static override forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }
}
