/**
 * Written as a user of the library writes tests for their own handlers: only
 * the testing module, the virtual clock and the tester. No real waiting: the
 * whole file runs in well under a second of test time.
 */
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { MemoryQueueService, MissingPackageError, SchedulerService, TaskContext, TaskHandler } from 'nestjs-queue-scheduler';
import { requireSqliteDriver } from 'nestjs-queue-scheduler/testing/queue-scheduler-testing.module';
import { QueueSchedulerTester, QueueSchedulerTestingModule, VirtualClock } from 'nestjs-queue-scheduler/testing';

@Injectable()
class ReportHandlers {
  failuresLeft = 0;

  @TaskHandler('nightly_report')
  report(params: { region: string }): string {
    return `report for ${params.region}`;
  }

  @TaskHandler('limited_mail', { rateLimit: { max: 2, perMs: 1000 } })
  mail(): void {}

  @TaskHandler('flaky_upload', { retries: { attempts: 3, backoff: 'exponential', delayMs: 60_000 } })
  upload(_params: unknown, ctx: TaskContext): void {
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      throw new Error(`upload failed on try ${ctx.attempt}`);
    }
  }
}

describe('QueueSchedulerTestingModule (a user-style test)', () => {
  let moduleRef: TestingModule;
  let tester: QueueSchedulerTester;
  let scheduler: SchedulerService;

  async function boot(startAt: string, lookaheadMs?: number): Promise<void> {
    moduleRef = await Test.createTestingModule({
      imports: [QueueSchedulerTestingModule.forRoot({ startAt: new Date(startAt), scheduler: { defaultTimezone: 'Europe/Berlin', ...(lookaheadMs === undefined ? {} : { lookaheadMs }) } })],
      providers: [ReportHandlers],
    }).compile();
    await moduleRef.init();
    tester = moduleRef.get(QueueSchedulerTester);
    scheduler = moduleRef.get(SchedulerService);
  }

  afterEach(() => moduleRef?.close());

  it('a daily 02:30 Berlin job across the spring-forward day runs once a day, at 03:00 (the jump) on the day 02:30 does not exist', async () => {
    await boot('2026-03-27T12:00:00Z');
    await scheduler.addSchedule({ name: 'nightly', taskType: 'nightly_report', scheduleType: 'cron', cronExpression: '30 2 * * *', params: { region: 'eu' } });
    await tester.advanceTo(new Date('2026-03-31T12:00:00Z'));
    const runs = tester.expectRan('nightly_report', { region: 'eu' }, 4);
    expect(runs.map((r) => r.scheduledAt!.toISOString())).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 02:30 does not exist: at the jump, 03:00 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
      '2026-03-31T00:30:00.000Z',
    ]);
    // each ran at its own virtual time, not at the end of the advance
    expect(runs.map((r) => r.at.getTime())).toEqual(runs.map((r) => r.scheduledAt!.getTime()));
  });

  it('an hourly job across the fall-back day runs once per real hour (25 runs on the 25-hour day)', async () => {
    await boot('2026-10-24T22:00:00Z'); // 00:00 CEST on 2026-10-25
    await scheduler.addSchedule({ name: 'hourly', taskType: 'nightly_report', scheduleType: 'cron', cronExpression: '0 * * * *', params: { region: 'hourly' } });
    await tester.advanceTo(new Date('2026-10-25T23:00:00Z')); // 00:00 CET on 2026-10-26
    const times = tester.succeeded('nightly_report').map((r) => r.scheduledAt!.getTime());
    expect(times).toHaveLength(25);
    expect(new Set(times).size).toBe(25);
    expect(times.slice(1).map((t, i) => t - times[i])).toEqual(Array(24).fill(3_600_000));
  });

  it('after a 2-hour downtime a fire_once schedule runs once, then stays on its grid', async () => {
    await boot('2026-06-01T08:00:00Z');
    const s = await scheduler.addSchedule({ name: 'every minute', taskType: 'nightly_report', scheduleType: 'interval', intervalSeconds: 60, params: { region: 'apac' } });
    await tester.advance(5 * 60_000);
    expect(tester.succeeded('nightly_report')).toHaveLength(5);
    tester.clearRuns();

    tester.clock.travel(2 * 3600_000); // the app was down for two hours: nothing runs meanwhile
    await tester.drain();
    const [caughtUp] = tester.expectRan('nightly_report', { region: 'apac' }, 1);
    expect(caughtUp.at.toISOString()).toBe('2026-06-01T10:05:00.000Z');
    const row = await scheduler.getSchedule(s.taskId);
    expect(row.runCount).toBe(6);
    // the next run is on the original minute grid, less than a minute away
    expect((row.nextRunAt!.getTime() - new Date('2026-06-01T08:00:00Z').getTime()) % 60_000).toBe(0);
    expect(row.nextRunAt!.getTime() - tester.clock.now()).toBeLessThanOrEqual(60_000);

    await tester.advance(3 * 60_000);
    expect(tester.succeeded('nightly_report')).toHaveLength(4);
  });

  it('the same downtime with fire_all runs every missed occurrence (bounded by maxCatchUp) and skip runs none', async () => {
    await boot('2026-06-01T08:00:00Z');
    await scheduler.addSchedule({ name: 'all', taskType: 'nightly_report', scheduleType: 'interval', intervalSeconds: 600, misfirePolicy: 'fire_all', params: { region: 'all' } });
    await scheduler.addSchedule({ name: 'skip', taskType: 'nightly_report', scheduleType: 'interval', intervalSeconds: 600, misfirePolicy: 'skip', params: { region: 'skip' } });
    tester.clock.travel(2 * 3600_000 + 1000);
    await tester.drain();
    expect(tester.succeeded('nightly_report', { region: 'all' })).toHaveLength(12);
    expect(tester.succeeded('nightly_report', { region: 'skip' })).toHaveLength(0);
  });

  it('retries wait their backoff in virtual time: fail, fail, succeed at +1 min and +3 min', async () => {
    await boot('2026-06-01T08:00:00Z');
    moduleRef.get(ReportHandlers).failuresLeft = 2;
    const queue = moduleRef.get(MemoryQueueService);
    const id = queue.pushTask({ type: 'flaky_upload', params: { file: 'a.mp3' } });
    await tester.drain();
    expect(tester.runs('flaky_upload').map((r) => r.outcome)).toEqual(['failed']);
    await tester.advance(59_999);
    expect(tester.runs('flaky_upload')).toHaveLength(1);
    await tester.advance(1);
    await tester.advance(120_000);
    expect(tester.runs('flaky_upload').map((r) => [r.outcome, r.at.toISOString()])).toEqual([
      ['failed', '2026-06-01T08:00:00.000Z'],
      ['failed', '2026-06-01T08:01:00.000Z'],
      ['succeeded', '2026-06-01T08:03:00.000Z'],
    ]);
    expect(queue.getTask(id)).toMatchObject({ status: 'succeeded', attempts: 3 });
  });

  it('scheduler.lookaheadMs does not apply on the virtual clock: nothing is queued before its time, a pause stops the next run', async () => {
    await boot('2026-06-01T08:00:00Z', 60_000);
    const s = await scheduler.addSchedule({ name: 'every 10 s', taskType: 'nightly_report', scheduleType: 'interval', intervalSeconds: 10, params: { region: 'la' } });
    await tester.advance(15_000);
    expect(tester.succeeded('nightly_report').map((r) => [r.scheduledAt!.toISOString(), r.at.toISOString()])).toEqual([['2026-06-01T08:00:10.000Z', '2026-06-01T08:00:10.000Z']]);
    expect(moduleRef.get(MemoryQueueService).getQueueSize()).toBe(0);
    expect(await scheduler.getSchedule(s.taskId)).toMatchObject({ runCount: 1, nextRunAt: new Date('2026-06-01T08:00:20Z') });
    await scheduler.pauseSchedule(s.taskId);
    await tester.advance(60_000);
    expect(tester.succeeded('nightly_report')).toHaveLength(1);
  });

  it('delayed tasks and the public store TTL follow the virtual clock', async () => {
    await boot('2026-06-01T08:00:00Z');
    const queue = moduleRef.get(MemoryQueueService);
    queue.pushTask({ type: 'nightly_report', params: { region: 'later' }, delayMs: 30_000 });
    queue.setPublic('cookie', 'abc', 60);
    await tester.advance(29_999);
    expect(tester.runs()).toEqual([]);
    await tester.advance(1);
    tester.expectRan('nightly_report', { region: 'later' }, 1);
    await tester.advance(29_999);
    expect(queue.getPublic('cookie')).toBe('abc');
    await tester.advance(1);
    expect(queue.getPublic('cookie')).toBeNull();
  });

  it('expectRan explains what ran when the expectation fails, and advanceTo refuses to go back', async () => {
    await boot('2026-06-01T08:00:00Z');
    moduleRef.get(MemoryQueueService).pushTask({ type: 'nightly_report', params: { region: 'us' } });
    await tester.drain();
    expect(() => tester.expectRan('nightly_report', { region: 'eu' })).toThrow(/expected at least one successful run\(s\) of 'nightly_report' with params containing \{"region":"eu"\}, found 0[\s\S]*nightly_report succeeded \{"region":"us"\}/);
    expect(() => moduleRef.get(VirtualClock).advanceTo(new Date('2026-06-01T07:00:00Z'))).toThrow(/to must not be before/);
    // a count no run can match is a mistake in the test, not an expectation that fails by luck
    for (const times of [-1, 1.5, Number.NaN]) {
      expect(() => tester.expectRan('nightly_report', undefined, times)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError', field: 'times' }));
    }
  });

  it('a task pushed ready runs at once, as in the app; a delayed one waits for the clock', async () => {
    await boot('2026-06-01T08:00:00Z');
    const queue = moduleRef.get(MemoryQueueService);
    queue.pushTask({ type: 'nightly_report', params: { region: 'later' }, delayMs: 1000 });
    queue.pushTask({ type: 'nightly_report', params: { region: 'now' } });
    await tester.drain();
    expect(tester.succeeded('nightly_report').map((r) => r.params)).toEqual([{ region: 'now' }]);
    await tester.advance(1000);
    expect(tester.succeeded('nightly_report').map((r) => r.params)).toEqual([{ region: 'now' }, { region: 'later' }]);
  });

  it('a rate-limited task waits for its window on the virtual clock, and a paused type waits for its resume, without hanging the drive', async () => {
    await boot('2026-06-01T08:00:00.000Z');
    const queue = moduleRef.get(MemoryQueueService);
    queue.pushTasks([{ type: 'limited_mail' }, { type: 'limited_mail' }, { type: 'limited_mail' }]);
    // two start in this window; the drive ends with the third waiting for the next (it waited for it to start, for ever)
    await tester.drain();
    expect(tester.succeeded('limited_mail').map((r) => r.at.toISOString())).toEqual(['2026-06-01T08:00:00.000Z', '2026-06-01T08:00:00.000Z']);
    await tester.advance(5000);
    expect(tester.succeeded('limited_mail').map((r) => r.at.toISOString())).toEqual(['2026-06-01T08:00:00.000Z', '2026-06-01T08:00:00.000Z', '2026-06-01T08:00:01.000Z']);

    queue.pauseType('nightly_report');
    queue.pushTask({ type: 'nightly_report', params: { region: 'held' } });
    await scheduler.addSchedule({ name: 'tick', taskType: 'limited_mail', scheduleType: 'interval', intervalSeconds: 600 });
    // time and the other types go on while the paused task waits
    await tester.advance(3600_000);
    expect(tester.succeeded('limited_mail')).toHaveLength(3 + 6);
    expect(tester.succeeded('nightly_report')).toEqual([]);
    queue.resumeType('nightly_report');
    await tester.drain();
    tester.expectRan('nightly_report', { region: 'held' }, 1);
  });

  it('two advances called at once move time by both, in turn', async () => {
    await boot('2026-06-01T08:00:00.000Z');
    await Promise.all([tester.advance(10_000), tester.advance(10_000)]);
    expect(tester.clock.date().toISOString()).toBe('2026-06-01T08:00:20.000Z');
  });

  it("drives the clock under Jest's fake timers too", async () => {
    jest.useFakeTimers();
    try {
      await boot('2026-06-01T08:00:00.000Z');
      moduleRef.get(MemoryQueueService).pushTask({ type: 'nightly_report', params: { region: 'faked' }, delayMs: 5000 });
      await scheduler.addSchedule({ name: 'faked', taskType: 'nightly_report', scheduleType: 'interval', intervalSeconds: 2, params: { region: 'scheduled' } });
      await tester.advance(5000);
      tester.expectRan('nightly_report', { region: 'faked' }, 1);
      tester.expectRan('nightly_report', { region: 'scheduled' }, 2);
    } finally {
      jest.useRealTimers();
    }
  });

  it('moving the clock before init or after close throws a typed error instead of running nothing or failing in the driver', async () => {
    moduleRef = await Test.createTestingModule({ imports: [QueueSchedulerTestingModule.forRoot({ startAt: new Date('2026-06-01T08:00:00Z') })], providers: [ReportHandlers] }).compile();
    tester = moduleRef.get(QueueSchedulerTester);
    // before, the clock moved and nothing ran, so a test that forgot init() asserted on an empty run list
    expect(() => tester.advance(1000)).toThrow(expect.objectContaining({ name: 'QueueSchedulerError', message: expect.stringMatching(/has not started: call moduleRef.init\(\)/) }));
    expect(tester.clock.date()).toEqual(new Date('2026-06-01T08:00:00Z'));
    await moduleRef.init();
    moduleRef.get(MemoryQueueService).pushTask({ type: 'nightly_report', params: { region: 'eu' }, delayMs: 1000 });
    await tester.advance(1000);
    tester.expectRan('nightly_report', { region: 'eu' }, 1);
    await moduleRef.close();
    // before, the driver's own "connection is not open" from the closed SQLite data source
    expect(() => tester.advance(1000)).toThrow(expect.objectContaining({ name: 'QueueClosedError', message: expect.stringMatching(/testing module is closed/) }));
    expect(() => tester.drain()).toThrow(expect.objectContaining({ name: 'QueueClosedError' }));
  });
});

describe('QueueSchedulerTestingModule without better-sqlite3', () => {
  const missing = (name: string): never => {
    throw Object.assign(new Error(`Cannot find module '${name}'`), { code: 'MODULE_NOT_FOUND' });
  };

  it('stops at once with MissingPackageError naming the package (TypeORM gave up after 27 s of retries)', () => {
    const err = (() => {
      try {
        requireSqliteDriver(missing);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(MissingPackageError);
    expect(err).toMatchObject({ packageName: 'better-sqlite3', message: expect.stringContaining('npm install better-sqlite3@12') });
    // installed (this repository's copy): nothing to say
    expect(() => requireSqliteDriver()).not.toThrow();
  });

  it('does not look for it when the test brings its own data source', () => {
    expect(() => QueueSchedulerTestingModule.forRoot({ dataSource: 'mine' })).not.toThrow();
  });
});
