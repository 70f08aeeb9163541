/**
 * `SchedulerService.nextOccurrences` against what the scheduler then fires:
 * the predicted runs of a DST-crossing schedule are the scheduledAt of the
 * occurrences it pushes, on the testing module's virtual clock.
 */
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { InvalidArgumentError, InvalidScheduleError, SchedulerService, TaskHandler, TaskNotFoundError } from 'nestjs-queue-scheduler';
import { QueueSchedulerTester, QueueSchedulerTestingModule } from 'nestjs-queue-scheduler/testing';

@Injectable()
class Cleanup {
  @TaskHandler('cleanup')
  run(): void {}
}

describe('SchedulerService.nextOccurrences', () => {
  let moduleRef: TestingModule;
  let scheduler: SchedulerService;
  let tester: QueueSchedulerTester;

  beforeEach(async () => {
    moduleRef = await Test.createTestingModule({
      imports: [QueueSchedulerTestingModule.forRoot({ startAt: new Date('2026-10-22T12:00:00Z'), scheduler: { defaultTimezone: 'Europe/Berlin' } })],
      providers: [Cleanup],
    }).compile();
    await moduleRef.init();
    scheduler = moduleRef.get(SchedulerService);
    tester = moduleRef.get(QueueSchedulerTester);
  });

  afterEach(() => moduleRef.close());

  const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

  it("predicts, from the module's clock and default zone, the runs the scheduler fires across the fall-back night", async () => {
    const timing = { scheduleType: 'cron' as const, cronExpression: '30 2 * * *' };
    const predicted = iso(await scheduler.nextOccurrences(timing, 5));
    // 02:30 happens twice in Berlin on 2026-10-25: once, on its first pass (CEST)
    expect(predicted).toEqual(['2026-10-23T00:30:00.000Z', '2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z', '2026-10-27T01:30:00.000Z']);

    const s = await scheduler.addSchedule({ name: 'nightly', taskType: 'cleanup', ...timing });
    expect(iso(await scheduler.nextOccurrences(s.taskId))).toEqual(predicted);
    await tester.advanceTo(new Date('2026-10-27T12:00:00Z'));
    expect(tester.succeeded('cleanup').map((r) => r.scheduledAt!.toISOString())).toEqual(predicted);
    // after those five runs the stored schedule's list moves on
    expect(iso(await scheduler.nextOccurrences(s.taskId, 2))).toEqual(['2026-10-28T01:30:00.000Z', '2026-10-29T01:30:00.000Z']);
  });

  it('lists none for a paused schedule, counts maxRuns, and refuses bad input naming the field', async () => {
    const s = await scheduler.addSchedule({ name: 'three times', taskType: 'cleanup', scheduleType: 'interval', intervalSeconds: 60, maxRuns: 3 });
    expect(await scheduler.nextOccurrences(s.taskId, 10)).toHaveLength(3);
    await scheduler.pauseSchedule(s.taskId);
    expect(await scheduler.nextOccurrences(s.taskId)).toEqual([]);

    await expect(scheduler.nextOccurrences('no-such-schedule')).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(scheduler.nextOccurrences(s.taskId, -1)).rejects.toMatchObject({ constructor: InvalidArgumentError, field: 'count' });
    await expect(scheduler.nextOccurrences({ scheduleType: 'cron', cronExpression: 'every day' })).rejects.toMatchObject({ constructor: InvalidScheduleError, field: 'cronExpression' });
    // neither an id nor a timing: an unknown schedule, as for every method that takes an id (README)
    await expect(scheduler.nextOccurrences(null as never)).rejects.toMatchObject({ constructor: TaskNotFoundError, taskId: 'null' });
  });
});
