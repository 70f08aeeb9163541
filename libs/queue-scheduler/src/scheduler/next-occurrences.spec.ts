import fc from 'fast-check';
import type { SchedulerTask } from '../entities/scheduler-task.entity';
import { InvalidArgumentError, InvalidScheduleError } from '../errors/errors';
import { initialRun, planFire } from './math/schedule-math';
import { nextOccurrences, type ScheduleTiming, upcomingRuns } from './next-occurrences';

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());
const BERLIN_0230: ScheduleTiming = { scheduleType: 'cron', cronExpression: '30 2 * * *', timezone: 'Europe/Berlin' };

/** What the firing loop does with a schedule added at `from`: its first run, then each on-time firing's next. */
function firedByScheduler(timing: ScheduleTiming, from: Date, count: number): string[] {
  const out: Date[] = [];
  for (let due = initialRun(timing, from); due && out.length < count; due = planFire(timing, due, due, 'fire_once', 1000, 10).next) out.push(due);
  return iso(out);
}

describe('nextOccurrences', () => {
  it('crosses the spring-forward night: 02:30 does not exist in Berlin on 2026-03-29, it runs once at the jump (03:00 CEST)', () => {
    expect(iso(nextOccurrences(BERLIN_0230, 5, new Date('2026-03-26T12:00:00Z')))).toEqual([
      '2026-03-27T01:30:00.000Z', // 02:30 CET
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:00:00.000Z', // 03:00 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
      '2026-03-31T00:30:00.000Z',
    ]);
  });

  it('crosses the fall-back night: 02:30 happens twice in Berlin on 2026-10-25, it runs on the first pass only', () => {
    expect(iso(nextOccurrences(BERLIN_0230, 5, new Date('2026-10-22T12:00:00Z')))).toEqual([
      '2026-10-23T00:30:00.000Z', // 02:30 CEST
      '2026-10-24T00:30:00.000Z',
      '2026-10-25T00:30:00.000Z', // 02:30 CEST, first pass; not 01:30Z (02:30 CET) as well
      '2026-10-26T01:30:00.000Z', // 02:30 CET
      '2026-10-27T01:30:00.000Z',
    ]);
  });

  it.each([
    ['spring-forward', '2026-03-26T12:00:00Z'],
    ['fall-back', '2026-10-22T12:00:00Z'],
    ['inside the repeated hour, second pass', '2026-10-25T01:10:00Z'],
    ['inside the repeated hour, first pass', '2026-10-25T00:10:00Z'],
  ])('equals what the scheduler fires for a schedule added then (%s)', (_name, from) => {
    for (const timing of [BERLIN_0230, { ...BERLIN_0230, cronExpression: '0 * * * *' }, { ...BERLIN_0230, cronExpression: '*/20 2 * * *' }]) {
      expect(iso(nextOccurrences(timing, 8, new Date(from)))).toEqual(firedByScheduler(timing, new Date(from), 8));
    }
  });

  it('interval: from + k × intervalSeconds; once: executeAt when after from; maxRuns caps the list', () => {
    const from = new Date('2026-06-01T08:00:00Z');
    expect(iso(nextOccurrences({ scheduleType: 'interval', intervalSeconds: 90 }, 3, from))).toEqual(['2026-06-01T08:01:30.000Z', '2026-06-01T08:03:00.000Z', '2026-06-01T08:04:30.000Z']);
    const executeAt = new Date('2026-06-02T00:00:00Z');
    expect(iso(nextOccurrences({ scheduleType: 'once', executeAt }, 5, from))).toEqual([executeAt.toISOString()]);
    expect(nextOccurrences({ scheduleType: 'once', executeAt }, 5, executeAt)).toEqual([]);
    // epoch ms, as addSchedule takes it
    expect(iso(nextOccurrences({ scheduleType: 'once', executeAt: executeAt.getTime() }, 5, from))).toEqual([executeAt.toISOString()]);
    expect(() => nextOccurrences({ scheduleType: 'once', executeAt: NaN }, 5, from)).toThrow(/executeAt must be a Date or epoch milliseconds, got NaN/);
    expect(nextOccurrences({ scheduleType: 'interval', intervalSeconds: 60, maxRuns: 3, runCount: 1 }, 5, from)).toHaveLength(2);
    expect(nextOccurrences({ scheduleType: 'interval', intervalSeconds: 60 }, 0, from)).toEqual([]);
  });

  it('defaults: 5 runs from now, in UTC without a timezone', () => {
    const before = Date.now();
    const runs = nextOccurrences({ scheduleType: 'cron', cronExpression: '0 12 * * *' });
    expect(runs).toHaveLength(5);
    expect(runs[0].getTime()).toBeGreaterThan(before);
    expect(runs.every((d) => d.getUTCHours() === 12)).toBe(true);
  });

  it('refuses bad input with a typed error naming the field and the value', () => {
    const from = new Date('2026-06-01T08:00:00Z');
    const fails = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return err as Error & { field?: string };
      }
      throw new Error('did not throw');
    };
    const cases: Array<[() => unknown, new (...args: never[]) => Error, string, RegExp]> = [
      [() => nextOccurrences(BERLIN_0230, -1, from), InvalidArgumentError, 'count', /count must be an integer from 0 to 1000, got -1/],
      [() => nextOccurrences(BERLIN_0230, 2.5, from), InvalidArgumentError, 'count', /got 2\.5/],
      [() => nextOccurrences(BERLIN_0230, 1001, from), InvalidArgumentError, 'count', /got 1001/],
      [() => nextOccurrences(BERLIN_0230, 5, new Date('nope')), InvalidArgumentError, 'from', /from must be a valid Date/],
      [() => nextOccurrences(BERLIN_0230, 5, '2026-01-01' as unknown as Date), InvalidArgumentError, 'from', /from must be a valid Date, got '2026-01-01'/],
      [() => nextOccurrences({ ...BERLIN_0230, cronExpression: '61 * * * *' }, 5, from), InvalidScheduleError, 'cronExpression', /61 \* \* \* \*/],
      [() => nextOccurrences({ ...BERLIN_0230, timezone: 'Europe/Nowhere' }, 5, from), InvalidScheduleError, 'timezone', /Europe\/Nowhere/],
      [() => nextOccurrences({ scheduleType: 'interval', intervalSeconds: 0 }, 5, from), InvalidScheduleError, 'intervalSeconds', /got 0/],
      // what addSchedule refuses, with its message: no runs are predicted for a schedule that cannot be saved
      [() => nextOccurrences({ scheduleType: 'interval', intervalSeconds: 1.5 }, 5, from), InvalidScheduleError, 'intervalSeconds', /positive whole number of seconds .*got 1\.5/],
      [() => nextOccurrences({ scheduleType: 'interval', intervalSeconds: 2 ** 31 }, 5, from), InvalidScheduleError, 'intervalSeconds', /got 2147483648/],
      [() => nextOccurrences({ scheduleType: 'weekly' as never }, 5, from), InvalidScheduleError, 'scheduleType', /weekly/],
      [() => nextOccurrences({ scheduleType: 'interval', intervalSeconds: 60, maxRuns: -2 }, 5, from), InvalidScheduleError, 'maxRuns', /got -2/],
    ];
    for (const [fn, type, field, message] of cases) {
      const err = fails(fn);
      expect(err).toBeInstanceOf(type);
      expect(err.field).toBe(field);
      expect(err.message).toMatch(message);
    }
  });
});

describe('upcomingRuns (a stored schedule, what the dashboard shows)', () => {
  const row = (fields: Partial<SchedulerTask>): SchedulerTask =>
    ({ scheduleType: 'cron', cronExpression: '30 2 * * *', timezone: 'Europe/Berlin', intervalSeconds: null, executeAt: null, enabled: true, runCount: 0, maxRuns: 0, nextRunAt: null, ...fields }) as SchedulerTask;

  it("starts at the row's nextRunAt, then the scheduler's own next ones; with from, equals nextOccurrences of its timing", () => {
    const stored = row({ nextRunAt: new Date('2026-03-27T01:30:00Z') });
    expect(iso(upcomingRuns(stored, 5))).toEqual(iso(nextOccurrences(BERLIN_0230, 5, new Date('2026-03-26T12:00:00Z'))));
    const from = new Date('2026-10-22T12:00:00Z');
    expect(iso(upcomingRuns(stored, 5, from))).toEqual(iso(nextOccurrences(BERLIN_0230, 5, from)));
  });

  it('none while paused or finished; maxRuns counts the runs done; an interval stays on its grid', () => {
    expect(upcomingRuns(row({ enabled: false }), 5)).toEqual([]);
    expect(upcomingRuns(row({ nextRunAt: new Date('2026-03-27T01:30:00Z'), maxRuns: 4, runCount: 2 }), 5)).toHaveLength(2);
    const interval = row({ scheduleType: 'interval', intervalSeconds: 60, cronExpression: null, nextRunAt: new Date('2026-06-01T08:00:30Z') });
    expect(iso(upcomingRuns(interval, 2, new Date('2026-06-01T08:00:30Z')))).toEqual(['2026-06-01T08:01:30.000Z', '2026-06-01T08:02:30.000Z']);
    expect(iso(upcomingRuns(interval, 2, new Date('2026-06-01T08:03:00Z')))).toEqual(['2026-06-01T08:03:30.000Z', '2026-06-01T08:04:30.000Z']);
  });

  it('given from, lists nothing before nextRunAt, which the scheduler never fires', () => {
    const interval = row({ scheduleType: 'interval', intervalSeconds: 60, cronExpression: null, nextRunAt: new Date('2026-06-01T08:00:30Z') });
    expect(iso(upcomingRuns(interval, 2, new Date('2026-06-01T07:58:40Z')))).toEqual(['2026-06-01T08:00:30.000Z', '2026-06-01T08:01:30.000Z']);
    const cron = row({ nextRunAt: new Date('2026-12-07T01:30:00Z') });
    expect(iso(upcomingRuns(cron, 2, new Date('2026-03-27T00:00:00Z')))).toEqual(['2026-12-07T01:30:00.000Z', '2026-12-08T01:30:00.000Z']);
    const once = row({ scheduleType: 'once', cronExpression: null, executeAt: new Date('2026-06-01T09:00:00Z'), nextRunAt: new Date('2026-06-01T09:00:00Z') });
    expect(iso(upcomingRuns(once, 3, new Date('2026-06-01T08:00:00Z')))).toEqual(['2026-06-01T09:00:00.000Z']);
    expect(upcomingRuns(once, 3, new Date('2026-06-01T09:00:00Z'))).toEqual([]);
  });

  it('given a from past nextRunAt, the runs up to it count against maxRuns', () => {
    // 3 runs left from 08:00:30: 08:00:30, 08:01:30, 08:02:30; two of them are at or before 08:01:45
    const interval = row({ scheduleType: 'interval', intervalSeconds: 60, cronExpression: null, maxRuns: 5, runCount: 2, nextRunAt: new Date('2026-06-01T08:00:30Z') });
    expect(iso(upcomingRuns(interval, 10, new Date('2026-06-01T08:01:45Z')))).toEqual(['2026-06-01T08:02:30.000Z']);
    expect(upcomingRuns(interval, 10, new Date('2026-06-01T08:02:30Z'))).toEqual([]);
    expect(iso(upcomingRuns(interval, 10))).toEqual(['2026-06-01T08:00:30.000Z', '2026-06-01T08:01:30.000Z', '2026-06-01T08:02:30.000Z']);
    // cron: 2026-03-27, -28 and -29 (the spring-forward night) left; from the 28th's run on, only the 29th's
    const cron = row({ nextRunAt: new Date('2026-03-27T01:30:00Z'), maxRuns: 3 });
    expect(iso(upcomingRuns(cron, 10, new Date('2026-03-28T01:30:00Z')))).toEqual(['2026-03-29T01:00:00.000Z']);
    expect(upcomingRuns(cron, 10, new Date('2026-03-29T01:00:00Z'))).toEqual([]);
    // with no cap, the same list as the timing's own from that date
    const from = new Date('2026-03-28T01:30:00Z');
    expect(iso(upcomingRuns(row({ nextRunAt: new Date('2026-03-27T01:30:00Z') }), 4, from))).toEqual(iso(nextOccurrences(BERLIN_0230, 4, from)));
  });
});

describe('upcomingRuns against the firing loop (property)', () => {
  const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 20_1206;
  const RUNS = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 300;
  // up to 60 days between next_run_at and from: every-20-seconds walks ~260,000 firings, so the finest is hourly
  const CRONS = ['7 * * * *', '30 2 * * *', '0 9 * * MON-FRI', '15 1-3 * * *', '0 0 1 * *', '0 */5 * * *'];
  const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe'];
  const BASE = Date.UTC(2026, 2, 20);

  /** What the scheduler fires of a stored row, on time, after `from`: its next_run_at, then each firing's next, no more than maxRuns leaves. */
  function firedAfter(row: SchedulerTask, from: Date, count: number): Date[] {
    let left = row.maxRuns ? row.maxRuns - row.runCount : Infinity;
    const out: Date[] = [];
    for (let due: Date | null = row.nextRunAt; due && left > 0 && out.length < count; due = planFire(row, due, due, 'fire_once', 1000, 10).next, left--) {
      if (due > from) out.push(due);
    }
    return out;
  }

  it('given any from, lists exactly the runs the firing loop fires after it, within maxRuns', () => {
    const timing = fc.oneof(
      fc.record({ scheduleType: fc.constant('interval' as const), intervalSeconds: fc.integer({ min: 1, max: 40 * 86_400 }), cronExpression: fc.constant(null), timezone: fc.constant('UTC') }),
      fc.record({ scheduleType: fc.constant('cron' as const), intervalSeconds: fc.constant(null), cronExpression: fc.constantFrom(...CRONS), timezone: fc.constantFrom(...ZONES) }),
    );
    fc.assert(
      fc.property(
        timing,
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 0, max: 200 * 86_400_000 }),
        fc.integer({ min: -30 * 86_400_000, max: 60 * 86_400_000 }),
        fc.integer({ min: 0, max: 8 }),
        (t, maxRuns, done, nextOffset, fromOffset, count) => {
          const runCount = maxRuns ? Math.min(done, maxRuns - 1) : done;
          const first = nextOccurrences(t, 1, new Date(BASE + nextOffset))[0];
          const row = { ...t, executeAt: null, enabled: true, maxRuns, runCount, nextRunAt: first } as SchedulerTask;
          const from = new Date(first.getTime() + fromOffset);
          const got = upcomingRuns(row, count, from);
          expect(iso(got)).toEqual(iso(firedAfter(row, from, count)));
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
