import { ConfigurableModuleBuilder, type DynamicModule } from '@nestjs/common';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import { QUEUE_SCHEDULER_ENTITIES } from './entities';
import type { QueueSchedulerModuleOptions } from './interfaces/options.interface';
import type { DataSource } from 'typeorm';
import type { ResolvedOptions } from './interfaces/options.interface';
import { RESOLVED_OPTIONS, SCHEDULER_DATA_SOURCE } from './queue-scheduler.constants';
import { inactiveQueue } from './queue/inactive-queue';
import { DatabaseQueueService } from './queue/database/database-queue.service';
import { SchedulerService } from './scheduler/scheduler.service';
import { DeclaredSchedulesService } from './scheduler/declared-schedules.service';

/** Settings that change the module graph, so they sit outside the (possibly async) options factory. */
export interface QueueSchedulerModuleExtras {
  /** Register the module globally, so feature modules inject its services without importing it. @default true */
  isGlobal: boolean;
  /**
   * Name of the host app's TypeORM data source that holds the library's tables
   * (the one given to `TypeOrmModule.forRoot({ name })`), or `false` for an app
   * without a database: the memory queue only, no SchedulerService.
   * @default 'default'
   */
  dataSource: string | false;
}

/** Adds the TypeORM entities and the services that need a database, unless `dataSource` is false. */
function withDatabase(definition: DynamicModule, extras: QueueSchedulerModuleExtras): DynamicModule {
  const module: DynamicModule = { ...definition, global: extras.isGlobal };
  // without a database it only refuses @Scheduled declarations, which need one
  if (extras.dataSource === false) return { ...module, providers: [...(module.providers ?? []), DeclaredSchedulesService] };
  return {
    ...module,
    imports: [...(module.imports ?? []), TypeOrmModule.forFeature(QUEUE_SCHEDULER_ENTITIES, extras.dataSource)],
    providers: [
      ...(module.providers ?? []),
      { provide: SCHEDULER_DATA_SOURCE, useExisting: getDataSourceToken(extras.dataSource) },
      SchedulerService,
      DeclaredSchedulesService,
      {
        provide: DatabaseQueueService,
        useFactory: (dataSource: DataSource, options: ResolvedOptions) =>
          options.queue.backend === 'database' ? new DatabaseQueueService(dataSource, options) : inactiveQueue(DatabaseQueueService, options.queue.backend),
        inject: [SCHEDULER_DATA_SOURCE, RESOLVED_OPTIONS],
      },
    ],
    exports: [...(module.exports ?? []), SchedulerService, DatabaseQueueService, DeclaredSchedulesService],
  };
}

export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: QUEUE_SCHEDULER_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<QueueSchedulerModuleOptions>({ moduleName: 'QueueScheduler' })
  .setClassMethodName('forRoot')
  .setExtras<QueueSchedulerModuleExtras>({ isGlobal: true, dataSource: 'default' }, withDatabase)
  .build();
