import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import { QueueSchedulerModule, SchedulerService, SchedulerTask, TaskContext, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import type { DataSource } from 'typeorm';
import { useTestDatabase } from './support/databases';
import { waitFor } from './support/wait-for';

@Injectable()
class Jobs {
  readonly done: string[] = [];

  @TaskHandler('job')
  run(_p: unknown, ctx: TaskContext): void {
    this.done.push(ctx.taskId);
  }
}

describe('a host app with two TypeORM connections', () => {
  const main = useTestDatabase('sqlite');
  const jobs = useTestDatabase('sqlite');

  it("keeps the library's tables on the data source named by the dataSource option", async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...main.options, synchronize: true }),
        TypeOrmModule.forRoot({ ...jobs.options, name: 'jobs', autoLoadEntities: true, synchronize: true }),
        QueueSchedulerModule.forRoot({ dataSource: 'jobs', logLevel: 'fatal', queue: { backend: 'database' } }),
      ],
      providers: [Jobs],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const schedule = await app.get(SchedulerService).addSchedulerTask({ name: 'soon', taskType: 'job', scheduleType: 'once', executeAt: Date.now() + 100 });
    const pushed = await app.get(TaskQueue).pushTask({ type: 'job' });
    await waitFor(() => app.get(Jobs).done.length === 2, 'both tasks ran');
    expect(app.get(Jobs).done).toContain(pushed);
    const jobsDs = app.get<DataSource>(getDataSourceToken('jobs'));
    const mainDs = app.get<DataSource>(getDataSourceToken());
    expect(await jobsDs.getRepository(SchedulerTask).countBy({ taskId: schedule.taskId })).toBe(1);
    expect(await mainDs.createQueryRunner().hasTable('scheduler_task')).toBe(false);
    await app.close();
  });
});
