import { type INestApplication, Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import {
  QueueSchedulerMetrics,
  QueueSchedulerModule,
  type QueueSchedulerMetricsSnapshot,
  SchedulerService,
  SchedulerTask,
  type TaskContext,
  TaskHandler,
  TaskQueue,
} from 'nestjs-queue-scheduler';
import { MAX_TRACKED_TYPES, OTHER_TYPES } from 'nestjs-queue-scheduler/metrics/queue-scheduler-metrics';
import type { DataSource } from 'typeorm';
import { bootApp, RecordingHandlers } from './support/apps';
import { DATABASES, useTestDatabase } from './support/databases';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

const fastRetry = { retries: { attempts: 2, backoff: 'fixed' as const, delayMs: 10 } };

@Injectable()
class OutcomeHandlers {
  @TaskHandler('ok')
  async ok(_params: unknown, ctx: TaskContext): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 20)); // simulated work, so durations are measurable
    ctx.progress(100);
  }

  @TaskHandler('flaky', fastRetry)
  flaky(_params: unknown, ctx: TaskContext): void {
    if (ctx.attempt === 1) throw new Error('first try fails');
  }

  @TaskHandler('broken', fastRetry)
  broken(): void {
    throw new Error('every try fails');
  }
}

const backends = ['memory', 'database'] as const;

describe.each(DATABASES)('QueueSchedulerMetrics on %s', (kind) => {
  const db = useTestDatabase(kind);
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  const snapshot = (a: INestApplication): Promise<QueueSchedulerMetricsSnapshot> => a.get(QueueSchedulerMetrics).snapshot();

  it.each(backends)('counts events by kind and type, retries, dead letters and handler durations (queue.backend %s)', async (backend) => {
    app = await bootApp(db, { queue: { backend } }, [OutcomeHandlers]);
    const queue = app.get(TaskQueue);
    for (let i = 0; i < 3; i++) await queue.pushTask({ type: 'ok' });
    await queue.pushTask({ type: 'flaky' });
    await queue.pushTask({ type: 'broken' });
    const later = await queue.pushTask({ type: 'ok', delayMs: 60_000 });
    expect(await queue.cancelTask(later)).toBe(true);
    await queue.onIdle();
    // events are emitted once each outcome is stored, a moment after onIdle may have seen the table idle
    await waitFor(async () => {
      const { events } = await snapshot(app!);
      return events.succeeded === 4 && events.dead === 1;
    }, 'every outcome to be counted');
    const s = await snapshot(app);

    expect(s.events).toEqual({ queued: 6, started: 7, progress: 3, succeeded: 4, retrying: 2, dead: 1, cancelled: 1 });
    expect(s.retries).toBe(2);
    expect(s.deadLettered).toBe(1);
    expect(s.tasksByStatus).toEqual({ pending: 0, running: 0, succeeded: 4, failed: 0, dead: 1, cancelled: 1, waiting: 0 });
    expect(s.queueDepth).toBe(0);
    expect(s.workers).toEqual({ running: true, busy: 0, size: 3 });
    expect(s.types.ok.events).toMatchObject({ queued: 4, started: 3, progress: 3, succeeded: 3 });
    expect(s.types.flaky.events).toMatchObject({ started: 2, retrying: 1, succeeded: 1, dead: 0 });
    expect(s.types.broken.events).toMatchObject({ started: 2, retrying: 1, dead: 1, succeeded: 0 });
    expect(Object.keys(s.types).sort()).toEqual(['broken', 'flaky', 'ok']);

    const ok = s.types.ok.durationMs;
    expect(ok.count).toBe(3);
    expect(ok.sum).toBeGreaterThanOrEqual(3 * 19);
    expect(ok.max).toBeGreaterThanOrEqual(19);
    expect(ok.cumulative[ok.bounds.indexOf(10)]).toBe(0); // each took ~20 ms: none in the ≤ 10 ms bucket
    expect(ok.cumulative.at(-1)).toBe(3);
    expect(s.types.flaky.durationMs.count).toBe(2);
    expect(s.types.broken.durationMs.count).toBe(2);
    expect(s.since.getTime()).toBeLessThanOrEqual(s.takenAt.getTime());
  });

  it.each(backends)('records the schedule lag (fire time - scheduled time) of each fired occurrence (queue.backend %s)', async (backend) => {
    app = await bootApp(db, { queue: { backend } });
    const scheduler = app.get(SchedulerService);
    const at = (ms: number) => ({ name: `lag ${backend} +${ms}`, taskType: 'tick', scheduleType: 'once' as const, executeAt: new Date(Date.now() + ms) });
    const ids = [(await scheduler.addSchedulerTask(at(200))).taskId, (await scheduler.addSchedulerTask(at(300))).taskId];
    const handlers = app.get(RecordingHandlers);
    await waitFor(() => ids.every((id) => handlers.of(id).length === 1), 'both occurrences to run');
    // `succeeded` is emitted once the outcome is stored, a moment after the handler returned
    await waitFor(async () => (await snapshot(app!)).types.tick?.events.succeeded === 2, 'both successes to be counted');
    const m = await snapshot(app);
    expect(m.schedules.fired).toBe(2);
    expect(m.schedules.lagMs.count).toBe(2);
    expect(m.schedules.lagMs.max).toBeLessThan(1000);
    expect(m.schedules.lagMs.cumulative.at(-1)).toBe(2);
    expect(m.schedules.misfires).toBe(0);
    expect(m.types.tick.events).toMatchObject({ queued: 2, started: 2, succeeded: 2 });
  });

  it('counts the occurrences a misfire skipped (fire_once after 100 s down)', async () => {
    // one instance that fires nothing creates the schedule; its next run is then moved 100 s into the past, as after an outage
    app = await bootApp(db, { scheduler: { enabled: false } });
    const s = await app.get(SchedulerService).addSchedulerTask({ name: 'missed', taskType: 'tick', scheduleType: 'interval', intervalSeconds: 10 });
    await app.get<DataSource>(getDataSourceToken()).getRepository(SchedulerTask).update({ taskId: s.taskId }, { nextRunAt: new Date(Date.now() - 100_000) });
    await app.close();

    app = await bootApp(db);
    await waitFor(async () => (await snapshot(app!)).schedules.fired >= 1, 'the catch-up run');
    const m = await snapshot(app);
    // 11 occurrences in [due, now] (due + 0 s … due + 100 s): fire_once runs the latest and counts 10 as missed
    expect(m.schedules).toMatchObject({ fired: 1, misfires: 10 });
    expect(m.schedules.lagMs.count).toBe(1);
    expect(m.schedules.lagMs.max).toBeLessThan(10_000);
  });
});

describe('QueueSchedulerMetrics without a database', () => {
  it('tracks at most MAX_TRACKED_TYPES types one by one, the rest together', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [QueueSchedulerModule.forRoot({ dataSource: false, logLevel: 'fatal' })] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    try {
      const queue = app.get(TaskQueue);
      // no handler for these types: the memory queue dead-letters each at once
      for (let i = 0; i < MAX_TRACKED_TYPES + 5; i++) await queue.pushTask({ type: `type_${i}` });
      await queue.onIdle();
      const m = await app.get(QueueSchedulerMetrics).snapshot();
      expect(Object.keys(m.types)).toHaveLength(MAX_TRACKED_TYPES + 1);
      expect(m.types[OTHER_TYPES].events.queued).toBe(5);
      // dead without a handler: counted dead, and no handler run of 0 s in the duration histogram
      expect(m.types.type_0.events.dead).toBe(1);
      expect(m.types.type_0.durationMs.count).toBe(0);
      expect(m.events.queued).toBe(MAX_TRACKED_TYPES + 5);
      expect(m.schedules).toEqual({ fired: 0, misfires: 0, skipped: 0, coalesced: 0, lagMs: expect.objectContaining({ count: 0 }) });
    } finally {
      await app.close();
    }
  });

  it('keeps a type with a handler on its own even after junk types filled every slot', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [QueueSchedulerModule.forRoot({ dataSource: false, logLevel: 'fatal' })],
      providers: [OutcomeHandlers],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    try {
      const queue = app.get(TaskQueue);
      for (let i = 0; i < MAX_TRACKED_TYPES + 50; i++) await queue.pushTask({ type: `junk_${i}` });
      await queue.pushTask({ type: 'flaky' });
      await queue.pushTask({ type: 'broken' });
      await queue.onIdle();
      await waitFor(async () => (await app.get(QueueSchedulerMetrics).snapshot()).events.dead === MAX_TRACKED_TYPES + 51, 'every outcome counted');
      const m = await app.get(QueueSchedulerMetrics).snapshot();
      expect(m.types.flaky.events).toMatchObject({ retrying: 1, succeeded: 1 });
      expect(m.types.broken.events).toMatchObject({ retrying: 1, dead: 1 });
      expect(m.types[OTHER_TYPES].events.queued).toBe(50);
      // the handled types, MAX_TRACKED_TYPES junk names, one entry for the rest
      expect(Object.keys(m.types)).toHaveLength(2 + MAX_TRACKED_TYPES + 1);
    } finally {
      await app.close();
    }
  });
});
