import { type INestApplication, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueSchedulerModule, SchedulerService } from 'nestjs-queue-scheduler';
import { DATABASES, type TestDatabase, useTestDatabase } from './support/databases';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log(message: unknown): void {
    this.lines.push(String(message));
  }
  warn(message: unknown): void {
    this.lines.push(String(message));
  }
  error(message: unknown): void {
    this.lines.push(String(message));
  }
}

async function boot(db: TestDatabase, synchronize: boolean, logger = new CapturingLogger()): Promise<{ app: INestApplication; logger: CapturingLogger }> {
  const moduleRef = await Test.createTestingModule({
    imports: [TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize, logging: false }), QueueSchedulerModule.forRoot({ logLevel: 'log' })],
  })
    .setLogger(logger)
    .compile();
  const app = moduleRef.createNestApplication({ logger });
  try {
    await app.init();
  } catch (err) {
    await app.close();
    throw err;
  }
  return { app, logger };
}

describe.each(DATABASES)('scheduler start-up on %s', (kind) => {
  const db = useTestDatabase(kind, { each: true });

  it('starts firing, then logs how many schedules are enabled', async () => {
    const first = await boot(db, true);
    const scheduler = first.app.get(SchedulerService);
    for (const name of ['a', 'b', 'c']) await scheduler.addSchedule({ name, taskType: 't', scheduleType: 'interval', intervalSeconds: 3600 });
    await scheduler.pauseSchedule((await scheduler.listSchedules()).find((s) => s.name === 'c')!.taskId);
    await first.app.close();

    const { app, logger } = await boot(db, false);
    try {
      expect(app.get(SchedulerService).running).toBe(true);
      await waitFor(() => logger.lines.some((l) => l === '2 enabled schedule(s) in the database; scheduler started'), 'the start-up count in the log');
    } finally {
      await app.close();
    }
  });

  it('still refuses to start when the scheduler_task table is missing', async () => {
    await expect(boot(db, false)).rejects.toThrow(/scheduler_task/);
  });
});
