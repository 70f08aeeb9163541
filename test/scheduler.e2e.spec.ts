/**
 * @shares-machine it mostly waits on 1 s schedules and restarts, and checks scheduled times, not start times; the start within 50 ms of a once schedule is in scheduler-once.precision.spec.ts, which holds the lock
 */
import type { INestApplication } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import {
  InvalidScheduleError,
  MemoryQueueService,
  QueueSchedulerError,
  ScheduleConflictError,
  SchedulerService,
  SchedulerTask,
  TaskEvent,
  TaskNotFoundError,
} from 'nestjs-queue-scheduler';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { bootApp, RecordingHandlers } from './support/apps';
import { DATABASES, useTestDatabase } from './support/databases';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

describe.each(DATABASES)('SchedulerService on %s', (kind) => {
  const db = useTestDatabase(kind);
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  const services = (a: INestApplication) => ({
    scheduler: a.get(SchedulerService),
    handlers: a.get(RecordingHandlers),
    queue: a.get(MemoryQueueService),
    rows: a.get<DataSource>(getDataSourceToken()).getRepository(SchedulerTask),
  });

  it('interval with maxRuns 3 pushes exactly 3 tasks, 1 s apart, then disables itself', async () => {
    app = await bootApp(db);
    const { scheduler, handlers } = services(app);
    const s = await scheduler.addSchedule({ name: 'three', taskType: 'tick', scheduleType: 'interval', intervalSeconds: 1, maxRuns: 3, params: { n: 1 } });
    // the claim's commit can be visible to this connection before the claiming one has pushed: wait for both
    await waitFor(async () => (await scheduler.getSchedule(s.taskId)).enabled === false && handlers.of(s.taskId).length >= 3, 'schedule disabled, 3 runs', 10_000);
    await app.get(MemoryQueueService).onIdle();
    const runs = handlers.of(s.taskId);
    expect(runs).toHaveLength(3);
    expect(runs.map((r) => r.params)).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }]);
    const gaps = runs.slice(1).map((r, i) => r.scheduledAt! - runs[i].scheduledAt!);
    expect(gaps).toEqual([1000, 1000]);
    expect(await scheduler.getSchedule(s.taskId)).toMatchObject({ runCount: 3, maxRuns: 3, enabled: false, nextRunAt: null });
  });

  it('a 6-field cron every second fires once per second, with no gap and no duplicate', async () => {
    app = await bootApp(db);
    const { scheduler, handlers } = services(app);
    const s = await scheduler.addSchedule({ name: 'every second', taskType: 'tick', scheduleType: 'cron', cronExpression: '* * * * * *' });
    await waitFor(() => handlers.of(s.taskId).length >= 4, '4 runs', 10_000);
    await scheduler.pauseSchedule(s.taskId);
    const times = handlers.of(s.taskId).map((r) => r.scheduledAt!);
    expect(times.every((t) => t % 1000 === 0)).toBe(true);
    expect(times.slice(1).map((t, i) => t - times[i])).toEqual(times.slice(1).map(() => 1000));
  });

  it('pause stops firing and survives a restart; resume continues from now', async () => {
    app = await bootApp(db);
    let { scheduler, handlers } = services(app);
    const s = await scheduler.addSchedule({ name: 'pausable', taskType: 'tick', scheduleType: 'interval', intervalSeconds: 1 });
    await waitFor(() => handlers.of(s.taskId).length >= 1, 'first run', 5000);
    await scheduler.pauseSchedule(s.taskId);
    const countAtPause = (await scheduler.getSchedule(s.taskId)).runCount;
    await app.close();
    app = await bootApp(db);
    ({ scheduler, handlers } = services(app));
    expect(await scheduler.getSchedule(s.taskId)).toMatchObject({ enabled: false, nextRunAt: null, runCount: countAtPause });
    // a full interval and more with the schedule paused: nothing fires
    await new Promise((r) => setTimeout(r, 1500));
    expect(handlers.of(s.taskId)).toHaveLength(0);
    const resumedAt = Date.now();
    const resumed = await scheduler.resumeSchedule(s.taskId);
    expect(resumed.enabled).toBe(true);
    expect(resumed.nextRunAt!.getTime() - resumedAt).toBeGreaterThanOrEqual(900);
    await waitFor(() => handlers.of(s.taskId).length >= 2, 'runs after resume', 5000);
    expect((await scheduler.getSchedule(s.taskId)).runCount).toBeGreaterThanOrEqual(countAtPause + 2);
  });

  it('schedules continue after a restart with their run counts kept', async () => {
    app = await bootApp(db);
    let { scheduler, handlers } = services(app);
    const s = await scheduler.addSchedule({ name: 'survivor', taskType: 'tick', scheduleType: 'interval', intervalSeconds: 1, params: { keep: true } });
    await waitFor(() => handlers.of(s.taskId).length >= 2, 'two runs', 5000);
    await app.close();
    const before = await readSchedule(s.taskId);
    app = await bootApp(db);
    ({ scheduler, handlers } = services(app));
    await waitFor(() => handlers.of(s.taskId).length >= 1, 'a run after restart', 5000);
    const after = await scheduler.getSchedule(s.taskId);
    expect(after.runCount).toBeGreaterThan(before.runCount);
    expect(handlers.of(s.taskId)[0].scheduledAt).toBeGreaterThan(before.lastRunAt!.getTime());
    expect(handlers.of(s.taskId)[0].params).toEqual({ keep: true });
  });

  /** Reads a row while no app runs, through a DataSource of its own. */
  async function readSchedule(id: string): Promise<SchedulerTask> {
    const ds = await new DataSource({ ...db.options, entities: [SchedulerTask] } as DataSourceOptions).initialize();
    try {
      return await ds.getRepository(SchedulerTask).findOneByOrFail({ taskId: id });
    } finally {
      await ds.destroy();
    }
  }

  it.each([
    ['fire_once', 1],
    ['fire_all', 10],
    ['skip', 0],
  ] as const)('after a 2-hour downtime, misfire policy %s gives %i run(s), then the schedule runs on time', async (policy, expected) => {
    // the app that made the schedule "went down" 2 h ago: its next_run_at is 2 h in the past
    app = await bootApp(db, { scheduler: { enabled: false }, workers: { enabled: false } });
    const { scheduler, rows } = services(app);
    const s = await scheduler.addSchedule({ name: `misfire ${policy}`, taskType: 'tick', scheduleType: 'interval', intervalSeconds: 60, misfirePolicy: policy });
    // off the minute grid by half a minute, so no on-time run comes due (or within the lookahead) while the test counts
    const twoHoursAgo = Date.now() - 2 * 3600_000 + 30_000;
    await rows.update({ taskId: s.taskId }, { nextRunAt: new Date(twoHoursAgo) });
    await app.close();
    app = await bootApp(db, { scheduler: { maxCatchUp: 10 } });
    const after = services(app);
    // the claim's commit can be visible here before the claiming connection has pushed: wait for the runs it recorded
    await waitFor(async () => {
      const row = await after.scheduler.getSchedule(s.taskId);
      return row.nextRunAt!.getTime() > Date.now() && after.handlers.of(s.taskId).length >= row.runCount;
    }, 'caught up', 5000);
    const runs = after.handlers.of(s.taskId);
    expect(runs).toHaveLength(expected);
    const row = await after.scheduler.getSchedule(s.taskId);
    expect(row.runCount).toBe(expected);
    // the next run stays on the original fixed-rate grid
    expect((row.nextRunAt!.getTime() - twoHoursAgo) % 60_000).toBe(0);
    expect(row.nextRunAt!.getTime() - Date.now()).toBeLessThanOrEqual(60_000);
    if (policy === 'fire_all') expect(new Set(runs.map((r) => r.scheduledAt)).size).toBe(10);
  });

  it('updateSchedule with only non-timing fields (undefined keys included) keeps the next run on its grid', async () => {
    app = await bootApp(db, { workers: { enabled: false } });
    const { scheduler } = services(app);
    const s = await scheduler.addSchedule({ name: 'grid', taskType: 'tick', scheduleType: 'interval', intervalSeconds: 3600 });
    await new Promise((r) => setTimeout(r, 20));
    // what a DTO with optional fields gives: keys present, values undefined
    const updated = await scheduler.updateSchedule(s.taskId, { description: 'renamed', intervalSeconds: undefined, cronExpression: undefined, timezone: undefined });
    expect(updated.description).toBe('renamed');
    expect(updated.nextRunAt!.getTime()).toBe(s.nextRunAt!.getTime());
    const moved = await scheduler.updateSchedule(s.taskId, { intervalSeconds: 7200 });
    expect(moved.nextRunAt!.getTime()).toBeGreaterThan(s.nextRunAt!.getTime());
  });

  it('concurrent changes of one schedule made by one instance all apply, in call order', async () => {
    app = await bootApp(db, { workers: { enabled: false } });
    const { scheduler } = services(app);
    const s = await scheduler.addSchedule({ name: 'busy', taskType: 'tick', scheduleType: 'interval', intervalSeconds: 3600 });
    // each raced the others' compare-and-set, one winning per round: the eleventh of twelve lost ten times (plain Error)
    const changes = [
      ...Array.from({ length: 20 }, (_, i) => () => scheduler.updateSchedule(s.taskId, { priority: i })),
      () => scheduler.pauseSchedule(s.taskId),
      () => scheduler.resumeSchedule(s.taskId),
      () => scheduler.updateSchedule(s.taskId, { description: 'last' }),
    ];
    const results = await Promise.allSettled(changes.map((change) => change()));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(await scheduler.getSchedule(s.taskId)).toMatchObject({ priority: 19, enabled: true, description: 'last' });
    const deletes = await Promise.allSettled([scheduler.deleteSchedule(s.taskId), scheduler.deleteSchedule(s.taskId)]);
    // the second, after the first, finds no row
    expect(deletes[0].status).toBe('fulfilled');
    expect(deletes[1]).toMatchObject({ status: 'rejected', reason: expect.any(TaskNotFoundError) });
  });

  if (kind === 'sqlite') it('a change that other instances keep beating is a ScheduleConflictError, and writes nothing', async () => {
    app = await bootApp(db, { workers: { enabled: false } });
    const { scheduler } = services(app);
    const s = await scheduler.addSchedule({ name: 'contended', taskType: 'tick', scheduleType: 'interval', intervalSeconds: 3600 });
    const ds = app.get<DataSource>(getDataSourceToken());
    // every write of the row is dropped, as when another instance's compare-and-set wins each round
    await ds.query(`CREATE TRIGGER contended BEFORE UPDATE ON scheduler_task WHEN OLD.task_id = '${s.taskId}' BEGIN SELECT RAISE(IGNORE); END`);
    try {
      const err = await scheduler.updateSchedule(s.taskId, { priority: 5 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ScheduleConflictError);
      expect(err).toBeInstanceOf(QueueSchedulerError);
      expect(err).toMatchObject({ scheduleId: s.taskId, message: expect.stringContaining('nothing was changed') });
      await expect(scheduler.pauseSchedule(s.taskId)).rejects.toBeInstanceOf(ScheduleConflictError);
    } finally {
      await ds.query('DROP TRIGGER contended');
    }
    expect(await scheduler.getSchedule(s.taskId)).toMatchObject({ priority: 0, enabled: true });
  });

  it('addSchedule returns enabled as a boolean, as every read does', async () => {
    app = await bootApp(db, { scheduler: { enabled: false }, workers: { enabled: false } });
    const { scheduler } = services(app);
    const on = await scheduler.addSchedule({ name: 'on', taskType: 'tick', scheduleType: 'interval', intervalSeconds: 3600 });
    const off = await scheduler.addSchedule({ name: 'off', taskType: 'tick', scheduleType: 'interval', intervalSeconds: 3600, enabled: false });
    expect([on.enabled, off.enabled]).toEqual([true, false]);
    expect(on).toEqual(await scheduler.getSchedule(on.taskId));
  });

  it('a once that ran runs again once moved to a later time and resumed (or enabled in the same update)', async () => {
    app = await bootApp(db);
    const { scheduler, handlers } = services(app);
    const s = await scheduler.addSchedule({ name: 'once', taskType: 'tick', scheduleType: 'once', executeAt: new Date(Date.now() + 200) });
    await waitFor(async () => handlers.of(s.taskId).length === 1 && !(await scheduler.getSchedule(s.taskId)).enabled, 'the once to run and finish', 5000);
    await expect(scheduler.resumeSchedule(s.taskId)).rejects.toBeInstanceOf(InvalidScheduleError);
    const moved = await scheduler.updateSchedule(s.taskId, { executeAt: new Date(Date.now() + 300) });
    expect(moved).toMatchObject({ enabled: false, nextRunAt: null });
    expect((await scheduler.resumeSchedule(s.taskId)).nextRunAt).toEqual(moved.executeAt);
    await waitFor(async () => handlers.of(s.taskId).length === 2 && !(await scheduler.getSchedule(s.taskId)).enabled, 'the run at its new time', 5000);
    const again = await scheduler.updateSchedule(s.taskId, { executeAt: new Date(Date.now() + 300), enabled: true });
    expect(again.nextRunAt).toEqual(again.executeAt);
    await waitFor(() => handlers.of(s.taskId).length === 3, 'the run at its third time', 5000);
    expect(handlers.of(s.taskId).map((r) => r.scheduledAt)).toEqual([s.executeAt!.getTime(), moved.executeAt!.getTime(), again.executeAt!.getTime()]);
  });

  it('get, list, update, runNow and delete; unknown ids are TaskNotFoundError', async () => {
    app = await bootApp(db);
    const { scheduler, handlers } = services(app);
    const s = await scheduler.addSchedule({ name: 'nightly', taskType: 'report', scheduleType: 'cron', cronExpression: '0 2 * * *', timezone: 'Asia/Shanghai', description: 'd' });
    expect(s.nextRunAt!.toISOString()).toMatch(/T18:00:00\.000Z$/);
    expect((await scheduler.listSchedules()).map((t) => t.taskId)).toContain(s.taskId);
    await scheduler.pauseSchedule(s.taskId);
    expect((await scheduler.listSchedules({ enabledOnly: true })).map((t) => t.taskId)).not.toContain(s.taskId);
    // null reads as no filter; a filter or enabledOnly of another kind is refused, naming the field
    expect((await scheduler.listSchedules(null)).map((t) => t.taskId)).toContain(s.taskId);
    await expect(scheduler.listSchedules({ enabledOnly: 'false' as unknown as boolean })).rejects.toMatchObject({ name: 'InvalidArgumentError', field: 'enabledOnly' });
    await expect(scheduler.listSchedules('x' as never)).rejects.toMatchObject({ name: 'InvalidArgumentError', field: 'filter' });
    const updated = await scheduler.updateSchedule(s.taskId, { cronExpression: '30 3 * * *', enabled: true, params: { v: 2 } });
    expect(updated.nextRunAt!.toISOString()).toMatch(/T19:30:00\.000Z$/);
    expect(await scheduler.getSchedule(s.taskId)).toMatchObject({ cronExpression: '30 3 * * *', enabled: true, params: { v: 2 }, runCount: 0 });
    const taskId = await scheduler.runNow(s.taskId);
    await waitFor(() => handlers.runs.some((r) => r.taskId === taskId), 'run-now task');
    expect((await scheduler.getSchedule(s.taskId)).runCount).toBe(0);
    // each call is a run of its own, however close together: the ids were made of the ms, and a fast SQLite read or
    // concurrent calls made one task of several
    const more = [await scheduler.runNow(s.taskId), await scheduler.runNow(s.taskId), ...(await Promise.all(Array.from({ length: 8 }, () => scheduler.runNow(s.taskId))))];
    expect(new Set([taskId, ...more]).size).toBe(11);
    await waitFor(() => more.every((id) => handlers.runs.some((r) => r.taskId === id)), 'every run-now task to run');
    // a value no id can be is an unknown schedule here too
    await expect(scheduler.nextOccurrences(2 as unknown as string)).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(scheduler.nextOccurrences(null as unknown as string)).rejects.toBeInstanceOf(TaskNotFoundError);
    await scheduler.deleteSchedule(s.taskId);
    for (const call of [
      () => scheduler.getSchedule(s.taskId),
      () => scheduler.pauseSchedule(s.taskId),
      () => scheduler.resumeSchedule(s.taskId),
      () => scheduler.updateSchedule(s.taskId, { name: 'x' }),
      () => scheduler.deleteSchedule(s.taskId),
      () => scheduler.runNow(s.taskId),
    ]) {
      await expect(call()).rejects.toBeInstanceOf(TaskNotFoundError);
    }
  });

  // Code ported from the seed calls the old names: each must act on the same row as its schedule-named twin.
  it('the seed names (addSchedulerTask, getTask, listTasks, pauseTask, …) are aliases of the schedule-named methods', async () => {
    app = await bootApp(db, { scheduler: { enabled: false }, workers: { enabled: false } });
    const { scheduler } = services(app);
    const viaAlias = await scheduler.addSchedulerTask({ name: 'alias', taskType: 'tick', scheduleType: 'interval', intervalSeconds: 3600 });
    const viaNew = await scheduler.addSchedule({ name: 'new', taskType: 'tick', scheduleType: 'interval', intervalSeconds: 3600 });
    expect(await scheduler.getSchedule(viaAlias.taskId)).toMatchObject({ name: 'alias', enabled: true, version: 0 });
    expect(await scheduler.getTask(viaNew.taskId)).toMatchObject({ name: 'new', enabled: true, version: 0 });
    const ids = (rows: SchedulerTask[]) => rows.map((r) => r.taskId).filter((id) => id === viaAlias.taskId || id === viaNew.taskId);
    expect(ids(await scheduler.listTasks())).toEqual(ids(await scheduler.listSchedules()));

    // a change through one name is what the other name reads
    expect(await scheduler.pauseTask(viaAlias.taskId)).toMatchObject({ enabled: false, nextRunAt: null });
    expect(await scheduler.getSchedule(viaAlias.taskId)).toMatchObject({ enabled: false, nextRunAt: null, version: 1 });
    expect(ids(await scheduler.listSchedules({ enabledOnly: true }))).toEqual([viaNew.taskId]);
    expect(ids(await scheduler.listTasks({ enabledOnly: true }))).toEqual([viaNew.taskId]);
    await scheduler.pauseSchedule(viaNew.taskId);
    expect(await scheduler.getTask(viaNew.taskId)).toMatchObject({ enabled: false, nextRunAt: null });
    expect((await scheduler.resumeTask(viaNew.taskId)).enabled).toBe(true);
    expect((await scheduler.getSchedule(viaNew.taskId)).enabled).toBe(true);
    await scheduler.resumeSchedule(viaAlias.taskId);
    expect((await scheduler.getTask(viaAlias.taskId)).enabled).toBe(true);
    await scheduler.updateTask(viaAlias.taskId, { description: 'by alias' });
    expect((await scheduler.getSchedule(viaAlias.taskId)).description).toBe('by alias');
    await scheduler.updateSchedule(viaNew.taskId, { description: 'by new name' });
    expect((await scheduler.getTask(viaNew.taskId)).description).toBe('by new name');

    // the same typed errors, whichever name is called
    for (const update of [scheduler.updateTask, scheduler.updateSchedule]) {
      const error = await update.call(scheduler, viaNew.taskId, { intervalSeconds: 0 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidScheduleError);
      expect((error as InvalidScheduleError).field).toBe('intervalSeconds');
    }
    for (const add of [scheduler.addSchedulerTask, scheduler.addSchedule]) {
      const error = await add.call(scheduler, { name: 'bad', taskType: 'tick', scheduleType: 'weekly', cronExpression: '* * * * *' } as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidScheduleError);
      expect((error as InvalidScheduleError).field).toBe('scheduleType');
    }

    await scheduler.deleteTask(viaAlias.taskId);
    await expect(scheduler.getSchedule(viaAlias.taskId)).rejects.toBeInstanceOf(TaskNotFoundError);
    await scheduler.deleteSchedule(viaNew.taskId);
    await expect(scheduler.getTask(viaNew.taskId)).rejects.toBeInstanceOf(TaskNotFoundError);

    const unknown = 'no-such-schedule';
    const pairs: Array<[string, () => Promise<unknown>, () => Promise<unknown>]> = [
      ['get', () => scheduler.getSchedule(unknown), () => scheduler.getTask(unknown)],
      ['pause', () => scheduler.pauseSchedule(unknown), () => scheduler.pauseTask(unknown)],
      ['resume', () => scheduler.resumeSchedule(unknown), () => scheduler.resumeTask(unknown)],
      ['update', () => scheduler.updateSchedule(unknown, { name: 'x' }), () => scheduler.updateTask(unknown, { name: 'x' })],
      ['delete', () => scheduler.deleteSchedule(unknown), () => scheduler.deleteTask(unknown)],
    ];
    for (const [what, named, alias] of pairs) {
      const [a, b] = [await named().catch((e: unknown) => e), await alias().catch((e: unknown) => e)];
      expect([what, a]).toEqual([what, expect.any(TaskNotFoundError)]);
      expect([what, b]).toEqual([what, expect.any(TaskNotFoundError)]);
      expect((b as TaskNotFoundError).message).toBe((a as TaskNotFoundError).message);
      expect((b as TaskNotFoundError).taskId).toBe(unknown);
    }
  });

  it.each([
    [{ cronExpression: '61 * * * *' }, 'cronExpression', /'61 \* \* \* \*'/],
    [{ cronExpression: '* * * *' }, 'cronExpression', /'\* \* \* \*'/],
    [{ cronExpression: '0 0 * * * * *' }, 'cronExpression', /cronExpression/],
    [{ cronExpression: undefined }, 'cronExpression', /required/],
    [{ timezone: 'Europe/Berlinn' }, 'timezone', /'Europe\/Berlinn'/],
    [{ scheduleType: 'interval', intervalSeconds: 0 }, 'intervalSeconds', /got 0/],
    [{ scheduleType: 'interval', intervalSeconds: -5 }, 'intervalSeconds', /got -5/],
    [{ scheduleType: 'interval', intervalSeconds: NaN }, 'intervalSeconds', /got NaN/],
    [{ scheduleType: 'interval', intervalSeconds: '10' }, 'intervalSeconds', /got '10'/],
    [{ scheduleType: 'interval' }, 'intervalSeconds', /required/],
    [{ scheduleType: 'once' }, 'executeAt', /required/],
    [{ scheduleType: 'once', executeAt: Date.now() - 3600_000 }, 'executeAt', /past/],
    [{ scheduleType: 'weekly' }, 'scheduleType', /'weekly'/],
    [{ maxRuns: -1 }, 'maxRuns', /got -1/],
    [{ name: '' }, 'name', /name must be/],
    [{ taskType: '  ' }, 'taskType', /taskType must be/],
    [{ misfirePolicy: 'sometimes' }, 'misfirePolicy', /'sometimes'/],
    [{ params: { f: () => 1 } }, 'params.f', /function/],
    // the params column is TEXT (64 KiB) on MySQL/MariaDB: refused up front on every database, not by the driver
    [{ params: { blob: 'x'.repeat(70_000) } }, 'params', /70011 bytes as JSON, more than a schedule's 65535/],
  ])('bad input %p → InvalidScheduleError on %s, nothing written', async (override, field, message) => {
    app = await bootApp(db, { scheduler: { enabled: false } });
    const { scheduler, rows } = services(app);
    const before = await rows.count();
    const input = { name: 'bad', taskType: 'tick', scheduleType: 'cron', cronExpression: '* * * * *', ...override };
    const error = await scheduler.addSchedule(input as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidScheduleError);
    expect((error as InvalidScheduleError).field).toBe(field);
    expect((error as Error).message).toMatch(message);
    expect(await rows.count()).toBe(before);
  });

  it('no timer fires after app.close() returns', async () => {
    app = await bootApp(db);
    const { scheduler, handlers } = services(app);
    const s = await scheduler.addSchedule({ name: 'closing', taskType: 'tick', scheduleType: 'cron', cronExpression: '* * * * * *' });
    await waitFor(() => handlers.of(s.taskId).length >= 1, 'a run', 5000);
    await app.close();
    app = undefined;
    const count = handlers.runs.length;
    expect(scheduler.running).toBe(false);
    await new Promise((r) => setTimeout(r, 1500));
    expect(handlers.runs.length).toBe(count);
  });
});
