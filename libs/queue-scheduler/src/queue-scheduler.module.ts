import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { TaskHandlerExplorer } from './handlers/task-handler.explorer';
import { TaskHandlerRegistry } from './handlers/task-handler.registry';
import type { QueueSchedulerModuleOptions } from './interfaces/options.interface';
import { RESOLVED_OPTIONS } from './queue-scheduler.constants';
import { ConfigurableModuleClass, QUEUE_SCHEDULER_OPTIONS } from './queue-scheduler.module-definition';
import { resolveOptions } from './queue-scheduler.options';
import { MemoryQueueService } from './queue/memory-queue.service';
import { TaskQueue } from './queue/task-queue';
import { WorkerPoolService } from './workers/worker-pool.service';

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
    MemoryQueueService,
    { provide: TaskQueue, useExisting: MemoryQueueService },
    TaskHandlerRegistry,
    TaskHandlerExplorer,
    WorkerPoolService,
  ],
  exports: [MemoryQueueService, TaskQueue, TaskHandlerRegistry, WorkerPoolService],
})
export class QueueSchedulerModule extends ConfigurableModuleClass {}
