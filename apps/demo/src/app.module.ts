import { Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueSchedulerModule } from 'nestjs-queue-scheduler';
import { QueueSchedulerDashboardModule } from 'nestjs-queue-scheduler/dashboard';
import { QueueErrorFilter } from './common/queue-error.filter';
import { createValidationPipe } from './common/validation';
import { databaseOptions } from './config/database.config';
import { DemoSessionController } from './dashboard/demo-session.controller';
import { ApiWriteGuard, LocalOnlyGuard } from './dashboard/local-only.guard';
import { AudioHandlers } from './handlers/audio.handlers';
import { ConvertHandlers } from './handlers/convert.handlers';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { PipelinesController } from './pipelines/pipelines.controller';
import { SchedulesController } from './schedules/schedules.controller';
import { DemoSeedService } from './seed/demo-seed.service';
import { StoreController } from './store/store.controller';
import { TasksController } from './tasks/tasks.controller';

@Module({
  imports: [
    // Factories, not literals: the environment is read when the app is created, so each test file can use its own SQLite file.
    TypeOrmModule.forRootAsync({ useFactory: () => databaseOptions() }),
    QueueSchedulerModule.forRootAsync({
      useFactory: () => ({
        // Controllers and handlers inject the backend-neutral TaskQueue and await every call, so this one line
        // moves tasks into the database (shared by instances, kept across restarts). DEMO_QUEUE_BACKEND tries it.
        queue: { backend: process.env.DEMO_QUEUE_BACKEND === 'database' ? 'database' : 'memory' },
        workers: { concurrency: 3 },
        // Simulated tasks take seconds: a short grace keeps Ctrl+C snappy, then ctx.signal aborts them.
        shutdownTimeoutMs: 3000,
      }),
    }),
    // The page and its API at /queues (kept out of the /api prefix in app.setup.ts); actions from this machine only.
    QueueSchedulerDashboardModule.forRoot({ path: '/queues', guards: [LocalOnlyGuard], title: 'nestjs-queue-scheduler demo' }),
    HealthModule,
    MetricsModule,
  ],
  controllers: [TasksController, PipelinesController, SchedulesController, StoreController, DemoSessionController],
  providers: [
    AudioHandlers,
    ConvertHandlers,
    DemoSeedService,
    // As providers (not app.useGlobal*) so every way of booting AppModule, tests included, gets them.
    { provide: APP_PIPE, useFactory: createValidationPipe },
    { provide: APP_FILTER, useClass: QueueErrorFilter },
    // the REST API's writes under the dashboard's rule: from this machine, or with DEMO_TOKEN
    { provide: APP_GUARD, useClass: ApiWriteGuard },
  ],
})
export class AppModule {}
