import { Injectable, type INestApplication, type Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { QueueSchedulerModule, type QueueSchedulerModuleOptions, TaskContext, TaskHandler } from 'nestjs-queue-scheduler';
import type { TestDatabase } from './databases';

export interface Run {
  taskId: string;
  type: string;
  params: unknown;
  schedulerTaskId?: string;
  scheduledAt?: number;
  startedAt: number;
}

/** Records every task it runs; the scheduler tests count these. */
@Injectable()
export class RecordingHandlers {
  readonly runs: Run[] = [];

  private record(params: unknown, ctx: TaskContext): void {
    this.runs.push({
      taskId: ctx.taskId,
      type: ctx.type,
      params,
      schedulerTaskId: ctx.task.schedulerTaskId,
      scheduledAt: ctx.task.scheduledAt?.getTime(),
      startedAt: Date.now(),
    });
  }

  @TaskHandler('tick')
  tick(params: unknown, ctx: TaskContext): void {
    this.record(params, ctx);
  }

  @TaskHandler('report')
  report(params: unknown, ctx: TaskContext): void {
    this.record(params, ctx);
  }

  of(scheduleId: string): Run[] {
    return this.runs.filter((r) => r.schedulerTaskId === scheduleId);
  }
}

/** Boots a Nest app on `db` with the module and the recording handlers, as a user's AppModule would. */
export async function bootApp(db: TestDatabase, options: QueueSchedulerModuleOptions = {}, providers: Provider[] = [], typeorm: Partial<TypeOrmModuleOptions> = {}): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false, ...typeorm } as TypeOrmModuleOptions),
      QueueSchedulerModule.forRoot({ logLevel: 'error', ...options }),
    ],
    providers: [RecordingHandlers, ...providers],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}
