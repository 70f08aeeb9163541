/**
 * @shares-machine it waits on 1 s and 2 s interval schedules and boots; every check is a waitFor or a row read, no start time or window is measured
 */
import { type INestApplication, Injectable, type LoggerService, type Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import {
  InvalidOptionsError,
  InvalidScheduleError,
  QUEUE_SCHEDULER_ENTITIES,
  QUEUE_SCHEDULER_MIGRATIONS,
  QueueSchedulerModule,
  type QueueSchedulerModuleOptions,
  Scheduled,
  SchedulerService,
  SchedulerTask,
  type TaskContext,
  TaskHandler,
} from 'nestjs-queue-scheduler';
import { QueueSchedulerTester, QueueSchedulerTestingModule } from 'nestjs-queue-scheduler/testing';
import { DataSource, type DataSourceOptions, IsNull, Not } from 'typeorm';
import { DATABASES, type TestDatabase, useTestDatabase } from './support/databases';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

interface Run {
  scheduleId?: string;
  params: unknown;
}
/** Every run of the jobs below, whichever app instance ran it. */
const runs: Run[] = [];
const record = (params: unknown, ctx: TaskContext): void => void runs.push({ scheduleId: ctx.task.schedulerTaskId, params });
const runsOf = (scheduleId: string): Run[] => runs.filter((r) => r.scheduleId === scheduleId);

const NIGHTLY = { key: 'nightly-report', cron: '0 2 * * *', timezone: 'Asia/Shanghai', description: 'the nightly report' };

/** The app's first version. */
@Injectable()
class JobsV1 {
  @Scheduled({ key: 'every-second', interval: 1, params: { v: 1 } })
  @TaskHandler('sd_tick')
  tick(params: unknown, ctx: TaskContext): void {
    record(params, ctx);
  }

  @Scheduled(NIGHTLY)
  @TaskHandler('sd_report')
  report(params: unknown, ctx: TaskContext): void {
    record(params, ctx);
  }
}

/** `every-second` changed (params, and its timing: every 2 s); `nightly-report` unchanged. */
@Injectable()
class JobsV2 {
  @Scheduled({ key: 'every-second', interval: 2, params: { v: 2 } })
  @TaskHandler('sd_tick')
  tick(params: unknown, ctx: TaskContext): void {
    record(params, ctx);
  }

  @Scheduled(NIGHTLY)
  @TaskHandler('sd_report')
  report(params: unknown, ctx: TaskContext): void {
    record(params, ctx);
  }
}

/** `nightly-report` removed from the code (its handler stays). */
@Injectable()
class JobsV3 {
  @Scheduled({ key: 'every-second', interval: 2, params: { v: 2 } })
  @TaskHandler('sd_tick')
  tick(params: unknown, ctx: TaskContext): void {
    record(params, ctx);
  }

  @TaskHandler('sd_report')
  report(params: unknown, ctx: TaskContext): void {
    record(params, ctx);
  }
}

/** Keeps what the app logs, so warnings can be asserted (Nest's testing logger drops them). */
class CapturingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string; context?: string }> = [];
  log(message: unknown, context?: string): void {
    this.lines.push({ level: 'log', message: String(message), context });
  }
  warn(message: unknown, context?: string): void {
    this.lines.push({ level: 'warn', message: String(message), context });
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.lines.push({ level: 'error', message: [message, ...rest].join(' ') });
  }
}

interface Booted {
  app: INestApplication;
  logger: CapturingLogger;
  scheduler: SchedulerService;
  rows: () => Promise<SchedulerTask[]>;
  byKey: (key: string) => Promise<SchedulerTask>;
}

/** Boots an app with `providers` on `db`, as a user's AppModule would. */
async function boot(db: TestDatabase, providers: Provider[], options: QueueSchedulerModuleOptions = {}, synchronize = true): Promise<Booted> {
  const logger = new CapturingLogger();
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize, logging: false }),
      QueueSchedulerModule.forRoot({ logLevel: 'log', ...options }),
    ],
    providers,
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
  const repo = app.get<DataSource>(getDataSourceToken()).getRepository(SchedulerTask);
  return {
    app,
    logger,
    scheduler: app.get(SchedulerService),
    rows: () => repo.find({ order: { createdAt: 'ASC', taskId: 'ASC' } }),
    byKey: async (key) => repo.findOneByOrFail({ scheduleKey: key }),
  };
}

describe.each(DATABASES)('@Scheduled on %s', (kind) => {
  const db = useTestDatabase(kind, { each: true });
  const apps: INestApplication[] = [];
  const start = async (providers: Provider[], options?: QueueSchedulerModuleOptions, synchronize?: boolean): Promise<Booted> => {
    const booted = await boot(db, providers, options, synchronize);
    apps.push(booted.app);
    return booted;
  };
  const closeAll = async (): Promise<void> => {
    for (const app of apps.splice(0)) await app.close();
  };

  db.beforeDrop(closeAll);

  it('inserts one row per key at boot, and the schedule fires', async () => {
    const { rows, byKey } = await start([JobsV1]);
    const keyed = (await rows()).filter((r) => r.scheduleKey !== null);
    expect(keyed.map((r) => r.scheduleKey).sort()).toEqual(['every-second', 'nightly-report']);
    const nightly = await byKey('nightly-report');
    expect(nightly).toMatchObject({ name: 'nightly-report', taskType: 'sd_report', scheduleType: 'cron', cronExpression: '0 2 * * *', timezone: 'Asia/Shanghai', description: 'the nightly report', enabled: true, runCount: 0 });
    // 02:00 in Shanghai (UTC+8) is 18:00 UTC
    expect(nightly.nextRunAt!.toISOString()).toMatch(/T18:00:00\.000Z$/);
    const tick = await byKey('every-second');
    expect(tick).toMatchObject({ taskType: 'sd_tick', scheduleType: 'interval', intervalSeconds: 1, params: { v: 1 } });
    await waitFor(() => runsOf(tick.taskId).length >= 2, '2 runs of every-second', 10_000);
    expect(runsOf(tick.taskId).every((r) => (r.params as { v: number }).v === 1)).toBe(true);
  });

  it('a changed declaration updates its row in place with the run count kept; unchanged and API schedules are not written', async () => {
    const v1 = await start([JobsV1]);
    const api = await v1.scheduler.addSchedule({ name: 'made through the API', taskType: 'sd_report', scheduleType: 'cron', cronExpression: '0 0 1 1 *' });
    const tick = await v1.byKey('every-second');
    await waitFor(() => runsOf(tick.taskId).length >= 2, '2 runs', 10_000);
    await closeAll();
    // the app was down for 5 s: runs of the old declaration were missed, and the scheduler's first look at v2's boot
    // must not fire them under it (it waits for the declarations to be written)
    await withDataSource(db, (ds) => ds.getRepository(SchedulerTask).update({ scheduleKey: 'every-second' }, { nextRunAt: new Date(Date.now() - 5000) }));
    const [tickBefore, nightlyBefore, apiBefore] = [await rowByKey(db, 'every-second'), await rowByKey(db, 'nightly-report'), await rowById(db, api.taskId)];
    expect(tickBefore.runCount).toBeGreaterThanOrEqual(2);
    const oldRuns = runsOf(tick.taskId).length;

    const v2 = await start([JobsV2]);
    const tickAfter = await v2.byKey('every-second');
    expect(tickAfter.taskId).toBe(tickBefore.taskId);
    expect(tickAfter).toMatchObject({ intervalSeconds: 2, params: { v: 2 }, runCount: tickBefore.runCount, enabled: true });
    expect(tickAfter.lastRunAt).toEqual(tickBefore.lastRunAt);
    expect(tickAfter.version).toBe(tickBefore.version + 1);
    // the timing changed: the next run is recomputed from the boot, 2 s on
    expect(tickAfter.nextRunAt!.getTime() - tickAfter.updatedAt.getTime()).toBe(2000);
    expect(await v2.byKey('nightly-report')).toEqual(nightlyBefore);
    expect(await rowById(db, api.taskId)).toEqual(apiBefore);
    expect(v2.logger.lines.filter((l) => l.context === 'DeclaredSchedulesService').map((l) => l.message)).toEqual([
      expect.stringMatching(/^schedule 'every-second' \(.+\) updated from its changed @Scheduled on JobsV2\.tick; next run /),
      'declared schedules: 0 added, 1 updated, 1 unchanged, 0 disabled',
    ]);
    await waitFor(() => runsOf(tick.taskId).some((r) => (r.params as { v: number }).v === 2), 'a run with the new params', 10_000);
    expect(runsOf(tick.taskId).filter((r) => (r.params as { v: number }).v === 1)).toHaveLength(oldRuns);
  });

  it('a declaration removed from the code disables its row with a warning; declared again, it runs again', async () => {
    const v1 = await start([JobsV1]);
    const api = await v1.scheduler.addSchedule({ name: 'api', taskType: 'sd_tick', scheduleType: 'interval', intervalSeconds: 3600 });
    const nightly = await v1.byKey('nightly-report');
    await closeAll();

    const v3 = await start([JobsV3]);
    expect(await v3.byKey('nightly-report')).toMatchObject({ taskId: nightly.taskId, enabled: false, nextRunAt: null, declaredHash: null });
    expect(await v3.byKey('every-second')).toMatchObject({ enabled: true });
    expect(await v3.scheduler.getSchedule(api.taskId)).toMatchObject({ enabled: true, scheduleKey: null, version: api.version });
    expect(v3.logger.lines).toContainEqual({
      level: 'warn',
      context: 'DeclaredSchedulesService',
      message: `schedule 'nightly-report' (${nightly.taskId}, sd_report) disabled: no @Scheduled declares it any more`,
    });
    await closeAll();

    // a second boot without it writes nothing more
    const again = await start([JobsV3]);
    expect(again.logger.lines.filter((l) => l.context === 'DeclaredSchedulesService' && l.level === 'warn')).toEqual([]);
    await closeAll();

    // a rollback to the first version brings it back, same row
    const back = await start([JobsV1]);
    const restored = await back.byKey('nightly-report');
    expect(restored).toMatchObject({ taskId: nightly.taskId, enabled: true, cronExpression: '0 2 * * *' });
    expect(restored.nextRunAt!.toISOString()).toMatch(/T18:00:00\.000Z$/);
  });

  it('a removed declaration whose schedule is overdue at boot is disabled, and its missed run does not fire', async () => {
    const v1 = await start([JobsV1]);
    const nightly = await v1.byKey('nightly-report');
    const tick = await v1.byKey('every-second');
    await closeAll();
    // due at the next boot: the loop, started at module init, would claim it before the sync at bootstrap reads it
    await withDataSource(db, (ds) => ds.getRepository(SchedulerTask).update({ taskId: nightly.taskId }, { nextRunAt: new Date(Date.now() - 1000) }));
    const v3 = await start([JobsV3]);
    expect(await v3.byKey('nightly-report')).toMatchObject({ enabled: false, nextRunAt: null, declaredHash: null });
    expect(v3.logger.lines).toContainEqual({
      level: 'warn',
      context: 'DeclaredSchedulesService',
      message: `schedule 'nightly-report' (${nightly.taskId}, sd_report) disabled: no @Scheduled declares it any more`,
    });
    // a run of the schedule v3 still declares: the loop has looked at the table since the sync
    const ticks = runsOf(tick.taskId).length;
    await waitFor(() => runsOf(tick.taskId).length > ticks, 'a run of every-second under v3', 10_000);
    expect(runsOf(nightly.taskId)).toEqual([]);
  });

  it('an app that declares no schedule at all (an API-only instance on the same table) leaves declared rows alone', async () => {
    // no firing in either app, so any write to the rows would be the declarations' sync
    const v1 = await start([JobsV1], { scheduler: { enabled: false } });
    const before = await v1.rows();
    await closeAll();

    const apiOnly = await start([], { scheduler: { enabled: false } });
    expect((await apiOnly.rows()).map((r) => [r.scheduleKey, r.enabled, r.version])).toEqual(before.map((r) => [r.scheduleKey, r.enabled, r.version]));
    expect(apiOnly.logger.lines.filter((l) => l.context === 'DeclaredSchedulesService' && l.level === 'warn')).toEqual([]);
  });

  it('a declared schedule paused through the API stays paused across restarts until its declaration changes', async () => {
    const v1 = await start([JobsV1]);
    const tick = await v1.byKey('every-second');
    await v1.scheduler.pauseSchedule(tick.taskId);
    await closeAll();

    const same = await start([JobsV1]);
    expect(await same.byKey('every-second')).toMatchObject({ enabled: false, nextRunAt: null });
    await closeAll();

    const changed = await start([JobsV2]);
    expect(await changed.byKey('every-second')).toMatchObject({ enabled: true, intervalSeconds: 2 });
  });

  it('several apps booting together on one database leave one row per key', async () => {
    await migrate(db);
    const booted = await Promise.all([0, 1, 2].map(() => start([JobsV1], { scheduler: { enabled: false }, workers: { enabled: false } }, false)));
    const keyed = (await booted[0].rows()).filter((r) => r.scheduleKey !== null);
    expect(keyed.map((r) => r.scheduleKey).sort()).toEqual(['every-second', 'nightly-report']);
    const added = booted.flatMap((b) => b.logger.lines).filter((l) => / added from @Scheduled/.test(l.message));
    expect(added).toHaveLength(2);
  });
});

describe('@Scheduled declarations that stop start-up', () => {
  const db = useTestDatabase('sqlite');

  const bootError = async (providers: Provider[], options?: QueueSchedulerModuleOptions): Promise<Error> => {
    const error = await boot(db, providers, options).then(
      async (b) => {
        await b.app.close();
        return new Error('booted');
      },
      (err: unknown) => err as Error,
    );
    return error;
  };

  const oneJob = (options: Parameters<typeof Scheduled>[0]): Provider => {
    @Injectable()
    class BadJob {
      @Scheduled(options)
      @TaskHandler('bad_job')
      run(): void {}
    }
    return BadJob;
  };

  it.each([
    [{ key: 'neg', interval: -1 }, 'interval', /^@Scheduled\('neg'\) on BadJob\.run: interval must be a positive whole number/],
    [{ key: 'c', cron: 'every day' }, 'cron', /^@Scheduled\('c'\) on BadJob\.run: cron 'every day' is invalid/],
    [{ key: 'tz', cron: '0 2 * * *', timezone: 'Mars/Olympus' }, 'timezone', /^@Scheduled\('tz'\) on BadJob\.run: timezone 'Mars\/Olympus' is not a known IANA time zone/],
    [{ key: 'two', cron: '0 2 * * *', interval: 60 }, 'interval', /give exactly one of cron, interval or at, got cron and interval/],
    [{ key: 'none' }, 'schedule', /give exactly one of cron, interval or at, got none/],
    [{ key: 'when', at: 'soon' }, 'at', /at must be a Date, epoch milliseconds or an ISO 8601 string, got 'soon'/],
    [{ key: '', interval: 5 }, 'key', /key must be a non-empty string/],
    [{ key: 'p', interval: 5, params: { f: () => 1 } as never }, 'params.f', /params\.f must be JSON-serializable/],
    [{ key: 'mp', interval: 5, misfirePolicy: 'later' as never }, 'misfirePolicy', /misfirePolicy must be one of/],
  ])('%j → InvalidScheduleError on %s', async (options, field, message) => {
    const err = await bootError([oneJob(options as Parameters<typeof Scheduled>[0])]);
    expect(err).toBeInstanceOf(InvalidScheduleError);
    expect(err).toMatchObject({ field });
    expect(err.message).toMatch(message);
    expect(await countRows(db)).toBe(0);
  });

  it('@Scheduled without @TaskHandler on the same method', async () => {
    @Injectable()
    class NoHandler {
      @Scheduled({ key: 'orphan', interval: 5 })
      run(): void {}
    }
    const err = await bootError([NoHandler]);
    expect(err).toBeInstanceOf(InvalidScheduleError);
    expect(err.message).toBe(
      "@Scheduled('orphan') on NoHandler.run has no @TaskHandler on the same method: put @TaskHandler('type') beside it, the schedule pushes tasks of that type",
    );
  });

  it('one key on two methods names both', async () => {
    @Injectable()
    class Twice {
      @Scheduled({ key: 'same', interval: 5 })
      @TaskHandler('twice_a')
      a(): void {}

      @Scheduled({ key: 'same', cron: '0 * * * *' })
      @TaskHandler('twice_b')
      b(): void {}
    }
    const err = await bootError([Twice]);
    expect(err).toMatchObject({ field: 'key', message: "Two @Scheduled declarations with key 'same': Twice.a and Twice.b. Each key names one schedule." });
  });

  it('@Scheduled in an app set up without a database', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [QueueSchedulerModule.forRoot({ dataSource: false, logLevel: 'fatal' })], providers: [JobsV1] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await expect(app.init()).rejects.toThrow(InvalidOptionsError);
    await app.close();
  });

  it('a method may carry several declarations; they run on the testing module’s virtual clock', async () => {
    @Injectable()
    class Reports {
      readonly seen: unknown[] = [];
      @Scheduled({ key: 'hourly-eu', cron: '0 * * * *', params: { region: 'eu' } })
      @Scheduled({ key: 'hourly-us', cron: '30 * * * *', params: { region: 'us' } })
      @TaskHandler('region_report')
      run(params: unknown): void {
        this.seen.push(params);
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [QueueSchedulerTestingModule.forRoot({ startAt: new Date('2026-03-28T12:10:00Z') })],
      providers: [Reports],
    }).compile();
    await moduleRef.init();
    try {
      const tester = moduleRef.get(QueueSchedulerTester);
      await tester.advance(2 * 3600_000);
      expect(tester.succeeded('region_report').map((r) => [r.scheduledAt!.toISOString(), r.params])).toEqual([
        ['2026-03-28T12:30:00.000Z', { region: 'us' }],
        ['2026-03-28T13:00:00.000Z', { region: 'eu' }],
        ['2026-03-28T13:30:00.000Z', { region: 'us' }],
        ['2026-03-28T14:00:00.000Z', { region: 'eu' }],
      ]);
    } finally {
      await moduleRef.close();
    }
  });
});

async function withDataSource<T>(db: TestDatabase, work: (ds: DataSource) => Promise<T>): Promise<T> {
  const ds = await new DataSource({ ...db.options, entities: QUEUE_SCHEDULER_ENTITIES, migrations: QUEUE_SCHEDULER_MIGRATIONS } as DataSourceOptions).initialize();
  try {
    return await work(ds);
  } finally {
    await ds.destroy();
  }
}

const migrate = (db: TestDatabase): Promise<unknown> => withDataSource(db, (ds) => ds.runMigrations());
const rowByKey = (db: TestDatabase, key: string): Promise<SchedulerTask> => withDataSource(db, (ds) => ds.getRepository(SchedulerTask).findOneByOrFail({ scheduleKey: key }));
const rowById = (db: TestDatabase, id: string): Promise<SchedulerTask> => withDataSource(db, (ds) => ds.getRepository(SchedulerTask).findOneByOrFail({ taskId: id }));
const countRows = (db: TestDatabase): Promise<number> => withDataSource(db, (ds) => ds.getRepository(SchedulerTask).countBy({ scheduleKey: Not(IsNull()) }));
