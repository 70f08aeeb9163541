import type { SchedulerTask } from '../entities/scheduler-task.entity';
import { InvalidScheduleError } from '../errors/errors';
import { declaredRun, declareSchedule } from './declared-schedule';
import type { ScheduledOptions } from '../handlers/scheduled.decorator';

const DEFAULTS = { timezone: 'UTC', misfirePolicy: 'fire_once' as const, maxPayloadBytes: 1_048_576 };
const NOW = Date.parse('2026-03-28T12:00:00Z');
const declare = (o: ScheduledOptions) => declareSchedule(o, 'job', 'Jobs.run', DEFAULTS);
/** The row a declaration would have been written as, with `changes` on top. */
const rowOf = (o: ScheduledOptions, changes: Partial<SchedulerTask> = {}): SchedulerTask =>
  ({ ...declare(o).fields, runCount: 0, lastRunAt: null, nextRunAt: new Date(NOW + 60_000), enabled: true, ...changes }) as SchedulerTask;

describe('declareSchedule', () => {
  it('maps the options to schedule columns, name defaulting to the key', () => {
    expect(declare({ key: 'k', cron: ' 0 2 * * * ', timezone: 'Asia/Shanghai' }).fields).toMatchObject({
      name: 'k', taskType: 'job', scheduleType: 'cron', cronExpression: '0 2 * * *', timezone: 'Asia/Shanghai', intervalSeconds: null, executeAt: null, enabled: true, maxRuns: 0,
    });
    expect(declare({ key: 'k', at: '2026-04-01T00:00:00Z' }).fields).toMatchObject({ scheduleType: 'once', executeAt: new Date('2026-04-01T00:00:00Z') });
  });

  it('accepts a past `at` (the app may boot after it)', () => {
    expect(declare({ key: 'k', at: 0 }).fields.executeAt).toEqual(new Date(0));
  });

  it('names the option the user wrote, with the key and the method', () => {
    expect(() => declare({ key: 'k', interval: 1.5 })).toThrow(new InvalidScheduleError('interval', "@Scheduled('k') on Jobs.run: interval must be a positive whole number of seconds (required for an interval schedule), got 1.5"));
  });

  it('fingerprints the definition: params key order does not count, any value does', () => {
    const a = declare({ key: 'k', interval: 5, params: { a: 1, b: { c: 2, d: 3 } } }).hash;
    expect(declare({ key: 'k', interval: 5, params: { b: { d: 3, c: 2 }, a: 1 } }).hash).toBe(a);
    expect(declare({ key: 'k', interval: 5, params: { a: 1, b: { c: 2, d: 4 } } }).hash).not.toBe(a);
    expect(declare({ key: 'k', interval: 5, params: { a: 1, b: { c: 2, d: 3 } }, enabled: false }).hash).not.toBe(a);
    expect(declare({ key: 'k2', interval: 5, params: { a: 1, b: { c: 2, d: 3 } } }).hash).not.toBe(a);
  });
});

describe('declaredRun', () => {
  it('a new row: the first run from now', () => {
    expect(declaredRun(declare({ key: 'k', interval: 30 }).fields, undefined, NOW)).toEqual({ enabled: true, nextRunAt: new Date(NOW + 30_000) });
  });

  it('keeps a running schedule’s next run when its timing did not change, recomputes it when it did', () => {
    const o: ScheduledOptions = { key: 'k', interval: 30 };
    expect(declaredRun(declare({ ...o, params: { x: 1 } }).fields, rowOf(o), NOW).nextRunAt).toEqual(new Date(NOW + 60_000));
    expect(declaredRun(declare({ ...o, interval: 10 }).fields, rowOf(o), NOW).nextRunAt).toEqual(new Date(NOW + 10_000));
    // paused through the API, then the declaration changed: runs again, from now
    expect(declaredRun(declare({ ...o, params: { x: 1 } }).fields, rowOf(o, { enabled: false, nextRunAt: null }), NOW)).toEqual({ enabled: true, nextRunAt: new Date(NOW + 30_000) });
  });

  it('a changed timing runs after an occurrence an instance of the old deploy still holds ahead, not at it again', () => {
    // memory queue, rolling deploy: the old instance claimed NOW + 2 s ahead and will run it; from now, the new cron's
    // next run would have been that same second, claimed twice
    const held = rowOf({ key: 'k', cron: '* * * * * *' }, { lastRunAt: new Date(NOW + 2000), runCount: 5 });
    expect(declaredRun(declare({ key: 'k', cron: '* * * * * *', timezone: 'Europe/Berlin' }).fields, held, NOW).nextRunAt).toEqual(new Date(NOW + 3000));
    expect(declaredRun(declare({ key: 'k', interval: 10 }).fields, held, NOW).nextRunAt).toEqual(new Date(NOW + 12_000));
  });

  it('declared disabled: disabled', () => {
    expect(declaredRun(declare({ key: 'k', interval: 30, enabled: false }).fields, rowOf({ key: 'k', interval: 30 }), NOW)).toEqual({ enabled: false, nextRunAt: null });
  });

  it('maxRuns reached stays finished; a higher maxRuns runs again', () => {
    const o: ScheduledOptions = { key: 'k', interval: 30, maxRuns: 3 };
    const done = rowOf(o, { runCount: 3, enabled: false, nextRunAt: null });
    expect(declaredRun(declare({ ...o, params: { x: 1 } }).fields, done, NOW)).toMatchObject({ enabled: false, nextRunAt: null, note: 'finished: 3 run(s) of maxRuns 3' });
    expect(declaredRun(declare({ ...o, maxRuns: 5 }).fields, done, NOW)).toMatchObject({ enabled: true });
  });

  it('once: a past time is not run; one that ran stays finished unless its time changes', () => {
    const past = NOW - 60_000;
    expect(declaredRun(declare({ key: 'k', at: past }).fields, undefined, NOW)).toMatchObject({ enabled: false, nextRunAt: null, note: expect.stringMatching(/has passed; not run$/) });
    const ran = rowOf({ key: 'k', at: past }, { runCount: 1, lastRunAt: new Date(past), enabled: false, nextRunAt: null });
    expect(declaredRun(declare({ key: 'k', at: past, params: { x: 1 } }).fields, ran, NOW)).toMatchObject({ enabled: false, note: expect.stringMatching(/^finished: ran at /) });
    expect(declaredRun(declare({ key: 'k', at: NOW + 5000 }).fields, ran, NOW)).toEqual({ enabled: true, nextRunAt: new Date(NOW + 5000) });
  });
});
