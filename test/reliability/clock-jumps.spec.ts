/**
 * Scenario 4, clock jumps: the system clock stepped back an hour, forward an
 * hour, and by ±30 s around a fire time (the virtual clock's `travel`, which
 * moves time without running anything, like an NTP step). An occurrence is
 * never fired twice, because it comes from the row's next_run_at and not
 * from the clock; a forward jump is a downtime and follows the misfire policy.
 */
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { type MisfirePolicy, type ScheduleEvent, SchedulerService, TaskHandler } from 'nestjs-queue-scheduler';
import { QueueSchedulerTester, QueueSchedulerTestingModule, VirtualClock } from 'nestjs-queue-scheduler/testing';

@Injectable()
class Noop {
  @TaskHandler('jump')
  run(): void {}
}

const MIN = 60_000;
const iso = (ms: number): string => new Date(ms).toISOString();

describe('clock jumps', () => {
  let moduleRef: TestingModule;
  let scheduler: SchedulerService;
  let tester: QueueSchedulerTester;
  let clock: VirtualClock;
  let events: ScheduleEvent[];

  async function boot(startAt: string): Promise<void> {
    moduleRef = await Test.createTestingModule({
      imports: [QueueSchedulerTestingModule.forRoot({ startAt: new Date(startAt), scheduler: { misfireGraceSeconds: 60 } })],
      providers: [Noop],
    }).compile();
    await moduleRef.init();
    scheduler = moduleRef.get(SchedulerService);
    tester = moduleRef.get(QueueSchedulerTester);
    clock = moduleRef.get(VirtualClock);
    events = [];
    scheduler.events$.subscribe((e) => events.push(e));
  }

  afterEach(() => moduleRef?.close());

  const occurrences = (scheduleId: string): number[] => tester.runs('jump').filter((r) => r.schedulerTaskId === scheduleId).map((r) => r.scheduledAt!.getTime());

  /** Every occurrence once, in order, none skipped: a contiguous run of `period`. */
  function expectContiguous(times: number[], period: number): void {
    expect(new Set(times).size).toBe(times.length);
    expect(times.slice(1).map((t, i) => t - times[i])).toEqual(times.slice(1).map(() => period));
  }

  it('−1 h after firing: no occurrence fires twice and the schedules carry on from their stored next run', async () => {
    await boot('2026-06-01T12:00:00Z');
    const every = await scheduler.addSchedulerTask({ name: 'every minute', taskType: 'jump', scheduleType: 'interval', intervalSeconds: 60 });
    const cron = await scheduler.addSchedulerTask({ name: 'every 5 min', taskType: 'jump', scheduleType: 'cron', cronExpression: '*/5 * * * *' });
    await tester.advance(10 * MIN);
    clock.travel(-60 * MIN);
    await tester.advance(90 * MIN); // clock now 12:40, one hour after 11:10
    const a = occurrences(every.taskId);
    const b = occurrences(cron.taskId);
    expectContiguous(a, MIN);
    expectContiguous(b, 5 * MIN);
    expect([iso(a[0]), iso(a.at(-1)!)]).toEqual(['2026-06-01T12:01:00.000Z', '2026-06-01T12:40:00.000Z']);
    expect([iso(b[0]), iso(b.at(-1)!)]).toEqual(['2026-06-01T12:05:00.000Z', '2026-06-01T12:40:00.000Z']);
    expect(events.filter((e) => e.kind === 'missed')).toEqual([]);
  });

  it.each<[MisfirePolicy, string[], number]>([
    ['fire_once', ['2026-06-01T13:05:00.000Z'], 59],
    ['fire_all', Array.from({ length: 60 }, (_, i) => iso(Date.parse('2026-06-01T12:06:00Z') + i * MIN)), 0],
    ['skip', [], 60],
  ])('+1 h: the jump is a downtime, %s decides what runs', async (policy, caughtUp, missed) => {
    await boot('2026-06-01T12:00:00Z');
    const row = await scheduler.addSchedulerTask({ name: policy, taskType: 'jump', scheduleType: 'interval', intervalSeconds: 60, misfirePolicy: policy });
    await tester.advance(5 * MIN);
    const before = occurrences(row.taskId).length;
    clock.travel(60 * MIN);
    await tester.drain();
    expect(occurrences(row.taskId).slice(before).map(iso)).toEqual(caughtUp);
    expect(events.filter((e) => e.kind === 'missed').map((e) => e.kind === 'missed' && e.missed)).toEqual(missed ? [missed] : []);
    // then on schedule from now, each occurrence once
    await tester.advance(2 * MIN);
    const all = occurrences(row.taskId);
    expect(all.slice(-2).map(iso)).toEqual(['2026-06-01T13:06:00.000Z', '2026-06-01T13:07:00.000Z']);
    expect(new Set(all).size).toBe(all.length);
  });

  it('−30 s right after a fire time: the occurrence is not fired again when the clock passes it a second time', async () => {
    await boot('2026-06-01T12:59:50Z');
    const row = await scheduler.addSchedulerTask({ name: 'hourly', taskType: 'jump', scheduleType: 'cron', cronExpression: '0 * * * *' });
    await tester.advanceTo(new Date('2026-06-01T13:00:05Z'));
    clock.travel(-30_000);
    await tester.advanceTo(new Date('2026-06-01T14:00:00Z'));
    expect(occurrences(row.taskId).map(iso)).toEqual(['2026-06-01T13:00:00.000Z', '2026-06-01T14:00:00.000Z']);
  });

  it('−30 s right before a fire time: it fires once, when the clock reaches it', async () => {
    await boot('2026-06-01T12:59:50Z');
    const row = await scheduler.addSchedulerTask({ name: 'hourly', taskType: 'jump', scheduleType: 'cron', cronExpression: '0 * * * *' });
    clock.travel(-30_000);
    await tester.advanceTo(new Date('2026-06-01T13:00:30Z'));
    const runs = tester.runs('jump').filter((r) => r.schedulerTaskId === row.taskId);
    expect(runs.map((r) => [iso(r.scheduledAt!.getTime()), iso(r.at.getTime())])).toEqual([['2026-06-01T13:00:00.000Z', '2026-06-01T13:00:00.000Z']]);
  });

  it('+30 s across a fire time: the occurrence fires once, late but within the grace period', async () => {
    await boot('2026-06-01T12:59:45Z');
    const row = await scheduler.addSchedulerTask({ name: 'hourly', taskType: 'jump', scheduleType: 'cron', cronExpression: '0 * * * *' });
    clock.travel(30_000);
    await tester.advanceTo(new Date('2026-06-01T13:30:00Z'));
    const runs = tester.runs('jump').filter((r) => r.schedulerTaskId === row.taskId);
    expect(runs.map((r) => [iso(r.scheduledAt!.getTime()), iso(r.at.getTime())])).toEqual([['2026-06-01T13:00:00.000Z', '2026-06-01T13:00:15.000Z']]);
    expect(events.filter((e) => e.kind === 'missed')).toEqual([]);
  });
});
