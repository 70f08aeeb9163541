/**
 * @shares-machine it waits on 1 s interval schedules held by gates, and its pile-up rules run on the virtual clock; no start time or short window is measured
 *
 * Issue 17, "No overlapping runs of a schedule": `overlap: 'allow' | 'skip' | 'wait'`
 * on every backend (memory, redis, each DATABASES entry), with a real clock and
 * handlers held on gates the test opens, so a run lasts exactly as long as the
 * test needs; the pile-up rules on the testing module's virtual clock.
 */
import { type INestApplication, Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import {
  InvalidScheduleError,
  QueueSchedulerMetrics,
  QueueSchedulerModule,
  type QueueSchedulerModuleOptions,
  type ScheduleEvent,
  Scheduled,
  SchedulerService,
  SchedulerTask,
  type TaskContext,
  TaskHandler,
} from 'nestjs-queue-scheduler';
import { QueueSchedulerTester, QueueSchedulerTestingModule } from 'nestjs-queue-scheduler/testing';
import type { DataSource } from 'typeorm';
import { type DatabaseKind, DATABASES, useTestDatabase } from './support/databases';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';
import { LogLines } from './support/log-lines';

jest.setTimeout(60_000);

type Backend = 'memory' | 'redis' | DatabaseKind;
const BACKENDS: Backend[] = ['memory', 'redis', ...DATABASES];
const POLICIES = ['skip', 'wait', 'allow'] as const;

interface Run {
  key: string;
  scheduledAt: number;
  start: number;
  end?: number;
}

/** Each run waits on its key's gate while the gate is closed: a run lasts as long as the test keeps it shut. */
@Injectable()
class GatedHandlers {
  readonly runs: Run[] = [];
  private readonly gates = new Map<string, { shut: Promise<void>; open: () => void }>();

  close(key: string): void {
    let open!: () => void;
    const shut = new Promise<void>((resolve) => (open = resolve));
    this.gates.set(key, { shut, open });
  }

  open(key: string): void {
    this.gates.get(key)?.open();
    this.gates.delete(key);
  }

  of(key: string): Run[] {
    return this.runs.filter((r) => r.key === key).sort((a, b) => a.scheduledAt - b.scheduledAt);
  }

  @TaskHandler('gated', { concurrency: 8 })
  async gated(params: { key: string }, ctx: TaskContext): Promise<void> {
    const run: Run = { key: params.key, scheduledAt: ctx.task.scheduledAt!.getTime(), start: Date.now() };
    this.runs.push(run);
    await this.gates.get(params.key)?.shut;
    run.end = Date.now();
  }
}


/** Each run started after the previous one ended. */
function expectInSequence(runs: Run[]): void {
  for (let i = 1; i < runs.length; i++) expect(runs[i].start).toBeGreaterThanOrEqual(runs[i - 1].end ?? Infinity);
}

describe.each(BACKENDS)('schedule overlap on %s', (backend) => {
  // memory and redis keep their schedules on SQLite; the database backend keeps both on its database
  const db = useTestDatabase(backend === 'memory' || backend === 'redis' ? 'sqlite' : backend);
  let app: INestApplication | undefined;
  let prefix = '';

  beforeAll(() => {
    prefix = testPrefix();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  afterAll(async () => {
    if (backend === 'redis') await dropPrefix(prefix);
  });

  async function boot(fresh = true) {
    const queue: QueueSchedulerModuleOptions['queue'] =
      backend === 'redis' ? { backend: 'redis', connection: REDIS, prefix, pollIntervalMs: 50 } : backend === 'memory' ? { backend: 'memory' } : { backend: 'database', pollIntervalMs: 50 };
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({ logLevel: 'log', workers: { concurrency: 8 }, scheduler: { pollIntervalMs: 200 }, queue }),
      ],
      providers: [GatedHandlers],
    }).compile();
    const logger = new LogLines();
    app = moduleRef.createNestApplication({ logger });
    const ds = app.get<DataSource>(getDataSourceToken());
    if (fresh) {
      // one database per file: each test starts from empty tables
      for (const table of ['scheduler_task', ...(backend === 'memory' || backend === 'redis' ? [] : ['task_queue'])]) await ds.query(`DELETE FROM ${table}`);
    }
    await app.init();
    return { scheduler: app.get(SchedulerService), handlers: app.get(GatedHandlers), metrics: app.get(QueueSchedulerMetrics), rows: ds.getRepository(SchedulerTask), logger };
  }

  it("skip drops occurrences while a run is unfinished and counts them, wait runs the held one after it, allow overlaps", async () => {
    const { scheduler, handlers, metrics, logger } = await boot();
    const events: ScheduleEvent[] = [];
    scheduler.events$.subscribe((e) => events.push(e));
    for (const key of POLICIES) handlers.close(key);
    const id: Record<string, string> = {};
    for (const overlap of POLICIES) {
      id[overlap] = (await scheduler.addSchedule({ name: overlap, taskType: 'gated', scheduleType: 'interval', intervalSeconds: 1, overlap, params: { key: overlap } })).taskId;
    }
    await waitFor(async () => (await metrics.snapshot()).schedules.skipped >= 2 && handlers.of('allow').length >= 3, "2 occurrences skipped, 3 runs of 'allow'", 15_000, 20);

    // while the first runs hang: skip and wait started one run each, allow one per occurrence, side by side
    expect(handlers.of('skip')).toHaveLength(1);
    expect(handlers.of('wait')).toHaveLength(1);
    expect(handlers.of('allow').filter((r) => r.end === undefined).length).toBeGreaterThanOrEqual(3);
    const first = handlers.of('skip')[0].scheduledAt;
    const skipped = events.flatMap((e) => (e.kind === 'skipped' && e.scheduleId === id.skip ? e.scheduledAt.map((d) => d.getTime()) : []));
    expect(skipped.slice(0, 2)).toEqual([first + 1000, first + 2000]);
    expect(logger.lines).toContainEqual(expect.stringContaining(`schedule ${id.skip} 'skip' (gated): occurrence(s) ${new Date(first + 1000).toISOString()} skipped (overlap skip)`));
    // the held occurrence of 'wait' stays on its row, not moved, not counted as a run
    const waitFirst = handlers.of('wait')[0].scheduledAt;
    expect(await scheduler.getSchedule(id.wait)).toMatchObject({ runCount: 1, nextRunAt: new Date(waitFirst + 1000), overlap: 'wait' });
    expect((await scheduler.getSchedule(id.skip)).runCount).toBe(1);

    const openedAt = Date.now();
    for (const key of POLICIES) handlers.open(key);
    await waitFor(() => handlers.of('wait').length >= 2 && handlers.of('skip').length >= 2, 'second runs of skip and wait', 10_000, 20);
    await Promise.all(POLICIES.map((s) => scheduler.pauseSchedule(id[s])));

    const wait = handlers.of('wait');
    expectInSequence(wait);
    // the held occurrence started once the first run ended, with the ones due meanwhile folded into it: the latest due
    expect(wait[1].start).toBeGreaterThanOrEqual(openedAt);
    expect(wait[1].scheduledAt).toBeGreaterThanOrEqual(waitFirst + 2000);
    // due when it started, not a later one (openedAt would be a race: an occurrence may fall due between the open and the end)
    expect(wait[1].scheduledAt).toBeLessThanOrEqual(wait[1].start);
    expect((await metrics.snapshot()).schedules.coalesced).toBeGreaterThanOrEqual(1);
    expect(logger.lines).toContainEqual(expect.stringMatching(new RegExp(`schedule ${id.wait} 'wait' \\(gated\\): \\d+ more occurrence\\(s\\) due while waiting .* folded into the run of ${new Date(wait[1].scheduledAt).toISOString()}`)));
    expectInSequence(handlers.of('skip'));
    expect(handlers.of('skip')[1].scheduledAt).toBeGreaterThan(first + 2000);
  });

  it('refuses an overlap other than allow, skip or wait, naming the field and the value, and writes nothing', async () => {
    const { scheduler, rows } = await boot();
    const input = { name: 'bad', taskType: 'gated', scheduleType: 'interval' as const, intervalSeconds: 60, params: { key: 'bad' } };
    const add = scheduler.addSchedule({ ...input, overlap: 'sometimes' as never });
    await expect(add).rejects.toThrow(InvalidScheduleError);
    await expect(add).rejects.toMatchObject({ field: 'overlap', message: "overlap must be 'allow', 'skip' or 'wait', got 'sometimes'" });
    await expect(scheduler.addSchedulerTask({ ...input, overlap: 1 as never })).rejects.toMatchObject({ field: 'overlap' });
    expect(await rows.count()).toBe(0);

    const s = await scheduler.addSchedule({ ...input, overlap: 'skip' });
    await expect(scheduler.updateSchedule(s.taskId, { overlap: 'never' as never })).rejects.toMatchObject({ field: 'overlap', message: "overlap must be 'allow', 'skip' or 'wait', got 'never'" });
    expect(await scheduler.getSchedule(s.taskId)).toMatchObject({ overlap: 'skip', version: s.version });
  });

  it('keeps overlap with the schedule across a restart; getSchedule and listSchedules return it', async () => {
    let { scheduler } = await boot();
    const base = { taskType: 'gated', scheduleType: 'interval' as const, intervalSeconds: 3600, params: { key: 'later' } };
    const plain = await scheduler.addSchedule({ ...base, name: 'plain' });
    const skip = await scheduler.addSchedulerTask({ ...base, name: 'skip', overlap: 'skip' });
    const wait = await scheduler.addSchedule({ ...base, name: 'wait', overlap: 'skip' });
    expect(plain.overlap).toBe('allow');
    expect((await scheduler.updateSchedule(wait.taskId, { overlap: 'wait' })).overlap).toBe('wait');
    await app!.close();

    ({ scheduler } = await boot(false));
    expect((await scheduler.getSchedule(skip.taskId)).overlap).toBe('skip');
    expect((await scheduler.listSchedules()).map((s) => [s.name, s.overlap])).toEqual([['plain', 'allow'], ['skip', 'skip'], ['wait', 'wait']]);
    // a change of another field keeps it
    expect((await scheduler.updateSchedule(wait.taskId, { priority: 3 })).overlap).toBe('wait');
  });
});

// ---- the pile-up rules, on the virtual clock (memory backend) ------------------------------------------------------

/** Fails its first try; the retry (30 s later) keeps the run unfinished across the next occurrences. */
@Injectable()
class SlowToSucceed {
  @TaskHandler('flaky', { retries: { attempts: 2, backoff: 'fixed', delayMs: 30_000 } })
  flaky(_params: unknown, ctx: TaskContext): void {
    if (ctx.attempt === 1 && ctx.task.scheduledAt!.getTime() === START + 10_000) throw new Error('first try fails');
  }
}

const START = Date.parse('2026-06-01T00:00:00Z');

describe('schedule overlap on the virtual clock', () => {
  let moduleRef: TestingModule;
  let tester: QueueSchedulerTester;
  let scheduler: SchedulerService;

  beforeEach(async () => {
    moduleRef = await Test.createTestingModule({
      imports: [QueueSchedulerTestingModule.forRoot({ startAt: START, logLevel: 'error' })],
      providers: [SlowToSucceed],
    }).compile();
    await moduleRef.init();
    tester = moduleRef.get(QueueSchedulerTester);
    scheduler = moduleRef.get(SchedulerService);
  });
  afterEach(() => moduleRef.close());

  const runs = () => tester.succeeded('flaky').map((r) => ({ scheduledAt: r.scheduledAt!.getTime() - START, at: r.at.getTime() - START }));

  it('skip: the occurrences due while the first run waits for its retry are dropped, the next after it runs', async () => {
    await scheduler.addSchedule({ name: 's', taskType: 'flaky', scheduleType: 'interval', intervalSeconds: 10, overlap: 'skip' });
    await tester.advance(65_000);
    // the run of 10 s ends at 40 s (its retry): 20 s, 30 s and 40 s are skipped
    expect(runs()).toEqual([{ scheduledAt: 10_000, at: 40_000 }, { scheduledAt: 50_000, at: 50_000 }, { scheduledAt: 60_000, at: 60_000 }]);
    expect(tester.runs('flaky')).toHaveLength(4);
  });

  it('wait: the occurrences piled up while waiting run as one, the latest, as soon as the run ends; the schedule then keeps its rate', async () => {
    const s = await scheduler.addSchedule({ name: 'w', taskType: 'flaky', scheduleType: 'interval', intervalSeconds: 10, overlap: 'wait' });
    await tester.advance(65_000);
    const [one, two, ...rest] = runs();
    expect(one).toEqual({ scheduledAt: 10_000, at: 40_000 });
    // 20 s and 30 s folded into the run of 40 s (due at once when the first ends), which starts within a recheck of the end
    expect(two.scheduledAt).toBe(40_000);
    expect(two.at).toBeGreaterThanOrEqual(40_000);
    expect(two.at).toBeLessThanOrEqual(40_250);
    expect(rest).toEqual([{ scheduledAt: 50_000, at: 50_000 }, { scheduledAt: 60_000, at: 60_000 }]);
    expect((await scheduler.getSchedule(s.taskId)).runCount).toBe(4);
  });

  it('allow: the next occurrences run beside the unfinished one', async () => {
    await scheduler.addSchedule({ name: 'a', taskType: 'flaky', scheduleType: 'interval', intervalSeconds: 10 });
    await tester.advance(35_000);
    expect(runs().map((r) => r.scheduledAt)).toEqual([20_000, 30_000]);
  });
});

// ---- @Scheduled -----------------------------------------------------------------------------------------------------

@Injectable()
class SkippingJob {
  @Scheduled({ key: 'overlap-job', interval: 3600, overlap: 'skip' })
  @TaskHandler('overlap_job')
  run(): void {}
}

@Injectable()
class WaitingJob {
  @Scheduled({ key: 'overlap-job', interval: 3600, overlap: 'wait' })
  @TaskHandler('overlap_job')
  run(): void {}
}

@Injectable()
class BadJob {
  @Scheduled({ key: 'bad-overlap', interval: 60, overlap: 'sometimes' as never })
  @TaskHandler('bad_overlap')
  run(): void {}
}

describe('@Scheduled overlap', () => {
  const db = useTestDatabase('sqlite');

  async function boot(job: new () => object): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({
      imports: [TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }), QueueSchedulerModule.forRoot({ logLevel: 'error', scheduler: { enabled: false } })],
      providers: [job],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    return app;
  }

  it('stores the declared overlap, and a changed overlap in code updates the stored schedule', async () => {
    let app = await boot(SkippingJob);
    const [row] = await app.get(SchedulerService).listSchedules();
    expect(row).toMatchObject({ scheduleKey: 'overlap-job', overlap: 'skip' });
    await app.close();
    app = await boot(WaitingJob);
    expect(await app.get(SchedulerService).getSchedule(row.taskId)).toMatchObject({ overlap: 'wait' });
    await app.close();
  });

  it('a bad overlap stops start-up with InvalidScheduleError naming the key and the option', async () => {
    await expect(boot(BadJob)).rejects.toThrow(InvalidScheduleError);
    await expect(boot(BadJob)).rejects.toThrow(/@Scheduled\('bad-overlap'\) on BadJob\.run: overlap must be 'allow', 'skip' or 'wait', got 'sometimes'/);
  });
});
