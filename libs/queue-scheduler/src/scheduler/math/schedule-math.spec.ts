import { CronExpression, CronExpressionParser } from 'cron-parser';
import { InvalidOptionsError, InvalidScheduleError } from '../../errors/errors';
import {
  assertCron,
  assertScheduleSpec,
  assertTimezone,
  initialRun,
  nextOccurrence,
  occurrencesDownTo,
  planFire,
  previousCronOccurrence,
  type ScheduleSpec,
} from './schedule-math';

const d = (s: string) => new Date(s);
const isoList = (ds: Date[]) => ds.map((x) => x.toISOString());
const MIN = 60_000;
const cron = (cronExpression: string, timezone?: string | null): ScheduleSpec => ({ scheduleType: 'cron', cronExpression, timezone });
const interval = (intervalSeconds: number): ScheduleSpec => ({ scheduleType: 'interval', intervalSeconds });
const once = (executeAt: Date): ScheduleSpec => ({ scheduleType: 'once', executeAt });

function thrown(fn: () => unknown): InvalidScheduleError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidScheduleError) return err;
    throw err;
  }
  throw new Error('expected an InvalidScheduleError');
}

describe('assertTimezone', () => {
  it.each(['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Shanghai', 'Etc/GMT+1'])('accepts %s', (tz) => {
    expect(() => assertTimezone(tz)).not.toThrow();
  });

  it('rejects an unknown zone, naming field and value', () => {
    const err = thrown(() => assertTimezone('Europe/Berlinn'));
    expect(err.field).toBe('timezone');
    expect(err.message).toBe("timezone 'Europe/Berlinn' is not a known IANA time zone");
  });

  it.each(['', '   ', '+01:00', 'Mars/Olympus'])('rejects %j', (tz) => {
    expect(thrown(() => assertTimezone(tz)).field).toBe('timezone');
  });

  it('uses the given field name', () => {
    const err = thrown(() => assertTimezone('Nowhere/Land', 'scheduler.defaultTimezone'));
    expect(err.field).toBe('scheduler.defaultTimezone');
    expect(err.message).toBe("scheduler.defaultTimezone 'Nowhere/Land' is not a known IANA time zone");
  });
});

describe('assertCron', () => {
  it.each(['*/5 * * * *', '0 2 * * 1-5', '0 0 L * *', '30 */10 * * * *', '* * * * * *', '  0   12 * * *  '])('accepts %j', (expr) => {
    expect(() => assertCron(expr, 'UTC')).not.toThrow();
  });

  it('rejects an out-of-range minute with cron-parser\u2019s reason', () => {
    const err = thrown(() => assertCron('61 * * * *', 'UTC'));
    expect(err.field).toBe('cronExpression');
    expect(err.message).toBe("cronExpression '61 * * * *' is invalid: Constraint error, got value 61 expected range 0-59");
  });

  it.each([
    ['* * * *', 4],
    ['* * * * * * *', 7],
    ['', 0],
    ['@daily', 1],
  ])('rejects %j (%d fields)', (expr, n) => {
    const err = thrown(() => assertCron(expr, 'UTC'));
    expect(err.field).toBe('cronExpression');
    expect(err.message).toBe(`cronExpression '${expr}' is invalid: expected 5 or 6 fields (6 = seconds first), got ${n}`);
  });

  it.each(['* 25 * * *', '0 0 31 2 *', 'foo bar baz qux quux', '*/0 * * * *', '60 * * * * *', '5-1 * * * *'])('rejects %j', (expr) => {
    const err = thrown(() => assertCron(expr, 'UTC'));
    expect(err.field).toBe('cronExpression');
    expect(err.message).toMatch(new RegExp(`^cronExpression '${expr.replace(/[*/]/g, '\\$&')}' is invalid: .+`));
  });

  it('rejects a non-string', () => {
    expect(thrown(() => assertCron(42 as unknown as string, 'UTC')).message).toBe('cronExpression 42 is invalid: expected a string of 5 or 6 fields');
  });

  it('checks the timezone too', () => {
    expect(thrown(() => assertCron('* * * * *', 'Europe/Berlinn')).field).toBe('timezone');
  });
});

describe('spec validation', () => {
  it.each([-1, 0, NaN, Infinity, '60', null, undefined])('intervalSeconds %p', (s) => {
    const err = thrown(() => nextOccurrence({ scheduleType: 'interval', intervalSeconds: s as number }, new Date()));
    expect(err.field).toBe('intervalSeconds');
  });

  it('names the bad interval value', () => {
    expect(thrown(() => assertScheduleSpec(interval(-1))).message).toBe('intervalSeconds must be a positive finite number, got -1');
    expect(thrown(() => assertScheduleSpec(interval(0.0001))).message).toBe('intervalSeconds must be at least 0.001, got 0.0001');
  });

  it('rejects a missing cron expression, a missing or invalid executeAt, an unknown type', () => {
    expect(thrown(() => assertScheduleSpec({ scheduleType: 'cron' })).field).toBe('cronExpression');
    expect(thrown(() => assertScheduleSpec({ scheduleType: 'once' })).field).toBe('executeAt');
    expect(thrown(() => assertScheduleSpec(once(new Date(NaN)))).field).toBe('executeAt');
    const err = thrown(() => assertScheduleSpec({ scheduleType: 'weekly' as 'cron' }));
    expect([err.field, err.message]).toEqual(['scheduleType', "scheduleType must be one of interval, cron, once, got 'weekly'"]);
  });

  it('rejects an unknown timezone on a cron spec', () => {
    const err = thrown(() => nextOccurrence(cron('* * * * *', 'Europe/Berlinn'), new Date()));
    expect(err.message).toBe("timezone 'Europe/Berlinn' is not a known IANA time zone");
  });

  it('rejects an invalid reference date', () => {
    expect(thrown(() => nextOccurrence(interval(60), new Date(NaN))).field).toBe('after');
  });
});

describe('nextOccurrence', () => {
  it('interval: after + interval', () => {
    expect(nextOccurrence(interval(90), d('2026-01-01T00:00:00.123Z'))).toEqual(d('2026-01-01T00:01:30.123Z'));
  });

  it('once: executeAt only while it is strictly in the future', () => {
    const at = d('2026-05-01T10:00:00Z');
    expect(nextOccurrence(once(at), d('2026-05-01T09:59:59.999Z'))).toEqual(at);
    expect(nextOccurrence(once(at), at)).toBeNull();
    expect(nextOccurrence(once(at), d('2026-06-01T00:00:00Z'))).toBeNull();
  });

  it('cron, 5 fields, strictly after; null/undefined timezone means UTC', () => {
    expect(nextOccurrence(cron('*/10 * * * *'), d('2026-01-01T12:00:00.000Z'))).toEqual(d('2026-01-01T12:10:00.000Z'));
    expect(nextOccurrence(cron('*/10 * * * *', null), d('2026-01-01T12:09:59.999Z'))).toEqual(d('2026-01-01T12:10:00.000Z'));
    expect(nextOccurrence(cron('0 9 * * 1'), d('2026-01-01T00:00:00Z'))).toEqual(d('2026-01-05T09:00:00Z')); // a Monday
  });

  it('cron, 6 fields: seconds first', () => {
    expect(nextOccurrence(cron('15 30 * * * *'), d('2026-01-01T12:00:00Z'))).toEqual(d('2026-01-01T12:30:15Z'));
  });

  it('every second: 12:00:00.000 -> 12:00:01.000, 12:00:00.500 -> 12:00:01.000', () => {
    expect(nextOccurrence(cron('* * * * * *'), d('2026-01-01T12:00:00.000Z'))).toEqual(d('2026-01-01T12:00:01.000Z'));
    expect(nextOccurrence(cron('* * * * * *'), d('2026-01-01T12:00:00.500Z'))).toEqual(d('2026-01-01T12:00:01.000Z'));
  });

  it('honours the timezone', () => {
    expect(nextOccurrence(cron('0 2 * * *', 'Asia/Shanghai'), d('2026-01-01T00:00:00Z'))).toEqual(d('2026-01-01T18:00:00Z'));
    expect(nextOccurrence(cron('0 0 * * *', 'Asia/Kolkata'), d('2026-01-01T00:00:00Z'))).toEqual(d('2026-01-01T18:30:00Z'));
    expect(nextOccurrence(cron('0 9 * * *', 'America/New_York'), d('2026-07-01T00:00:00Z'))).toEqual(d('2026-07-01T13:00:00Z'));
  });

  it('finds rare occurrences (Feb 29) across several DST periods', () => {
    expect(nextOccurrence(cron('0 12 29 2 *', 'Europe/Berlin'), d('2026-01-01T00:00:00Z'))).toEqual(d('2028-02-29T11:00:00Z'));
    expect(previousCronOccurrence(cron('0 12 29 2 *', 'Europe/Berlin'), d('2027-12-31T00:00:00Z'))).toEqual(d('2024-02-29T11:00:00Z'));
  });

  it('gives the same jittered minute for H on every call', () => {
    const spec = cron('H * * * *');
    const first = nextOccurrence(spec, d('2026-01-01T00:00:00Z'))!;
    for (let i = 0; i < 5; i++) expect(nextOccurrence(spec, d('2026-01-01T00:00:00Z'))).toEqual(first);
    expect(nextOccurrence(spec, first)!.getTime() - first.getTime()).toBe(60 * MIN);
  });
});

describe('previousCronOccurrence', () => {
  it('is inclusive of `at`', () => {
    expect(previousCronOccurrence(cron('*/10 * * * *'), d('2026-01-01T12:10:00.000Z'))).toEqual(d('2026-01-01T12:10:00.000Z'));
    expect(previousCronOccurrence(cron('*/10 * * * *'), d('2026-01-01T12:09:59.999Z'))).toEqual(d('2026-01-01T12:00:00.000Z'));
    expect(previousCronOccurrence(cron('* * * * * *'), d('2026-01-01T12:00:00.500Z'))).toEqual(d('2026-01-01T12:00:00.000Z'));
  });

  it('honours the timezone', () => {
    expect(previousCronOccurrence(cron('0 2 * * *', 'Asia/Shanghai'), d('2026-01-01T17:59:59Z'))).toEqual(d('2025-12-31T18:00:00Z'));
  });

  it('once: executeAt if <= at; interval has no anchor', () => {
    const at = d('2026-05-01T10:00:00Z');
    expect(previousCronOccurrence(once(at), at)).toEqual(at);
    expect(previousCronOccurrence(once(at), d('2026-05-01T09:00:00Z'))).toBeNull();
    expect(thrown(() => previousCronOccurrence(interval(60), at)).field).toBe('scheduleType');
  });
});

describe('occurrencesDownTo', () => {
  it('interval: back along the grid through `last`, down to and including the first at or before the floor', () => {
    const list = occurrencesDownTo(interval(60), d('2026-01-01T12:05:30Z'), d('2026-01-01T12:03:00Z'), 100);
    expect(isoList(list)).toEqual(['2026-01-01T12:05:30.000Z', '2026-01-01T12:04:30.000Z', '2026-01-01T12:03:30.000Z', '2026-01-01T12:02:30.000Z']);
  });

  it('cron: both real passes of a repeated hour, in the schedule zone', () => {
    // Berlin falls back at 03:00 CEST (01:00Z) on 2026-10-25: 02:30 is passed twice, at 00:30Z and 01:30Z
    const list = occurrencesDownTo(cron('30 * * * *', 'Europe/Berlin'), d('2026-10-25T02:30:00Z'), d('2026-10-25T00:00:00Z'), 100);
    expect(isoList(list)).toEqual(['2026-10-25T02:30:00.000Z', '2026-10-25T01:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-24T23:30:00.000Z']);
  });

  it('once: `last` alone; and never more than `limit`', () => {
    expect(isoList(occurrencesDownTo(once(d('2026-05-01T10:00:00Z')), d('2026-05-01T10:00:00Z'), d('2026-05-01T09:00:00Z'), 100))).toEqual(['2026-05-01T10:00:00.000Z']);
    expect(occurrencesDownTo(cron('* * * * * *'), d('2026-01-01T12:00:00Z'), d('2026-01-01T00:00:00Z'), 5)).toHaveLength(5);
  });
});

describe('initialRun', () => {
  const now = d('2026-03-10T08:07:06.005Z');
  it('interval: now + interval', () => expect(initialRun(interval(3600), now)).toEqual(d('2026-03-10T09:07:06.005Z')));
  it('cron: next after now', () => expect(initialRun(cron('0 * * * *'), now)).toEqual(d('2026-03-10T09:00:00Z')));
  it('once: executeAt, even in the past', () => {
    expect(initialRun(once(d('2026-03-01T00:00:00Z')), now)).toEqual(d('2026-03-01T00:00:00Z'));
    expect(initialRun(once(d('2027-03-01T00:00:00Z')), now)).toEqual(d('2027-03-01T00:00:00Z'));
  });
});

describe('planFire', () => {
  const T = d('2026-04-01T10:00:00.000Z');
  const at = (ms: number) => new Date(T.getTime() + ms);

  describe('on time (within grace)', () => {
    it('interval: fires due, next is due + interval (fixed rate, no drift)', () => {
      const plan = planFire(interval(60), T, at(5), 'fire_once', 1000, 10);
      expect(plan).toEqual({ fire: [T], next: at(60_000), missed: 0 });
    });

    it('lateness exactly equal to grace is still on time', () => {
      expect(planFire(interval(60), T, at(1000), 'skip', 1000, 10)).toEqual({ fire: [T], next: at(60_000), missed: 0 });
    });

    it('fires just `due` even when its successor is also past; the caller loops', () => {
      const plan = planFire(interval(1), T, at(1500), 'skip', 2000, 10);
      expect(plan).toEqual({ fire: [T], next: at(1000), missed: 0 });
      expect(planFire(interval(1), plan.next!, at(1500), 'skip', 2000, 10)).toEqual({ fire: [at(1000)], next: at(2000), missed: 0 });
    });

    it('cron: next is the occurrence after due', () => {
      expect(planFire(cron('*/10 * * * *'), T, at(30_000), 'skip', 60_000, 10)).toEqual({ fire: [T], next: at(10 * MIN), missed: 0 });
    });

    it('not yet due: nothing to do', () => {
      expect(planFire(interval(60), T, at(-1), 'fire_all', 0, 10)).toEqual({ fire: [], next: T, missed: 0 });
    });
  });

  describe('misfire: interval 60 s, due T, now T + 2 h, grace 60 s', () => {
    const now = at(120 * MIN);
    it('fire_once: one run at the latest occurrence <= now', () => {
      expect(planFire(interval(60), T, now, 'fire_once', 60_000, 10)).toEqual({ fire: [at(120 * MIN)], next: at(121 * MIN), missed: 120 });
    });

    it('fire_all: the latest maxCatchUp occurrences, ascending', () => {
      const plan = planFire(interval(60), T, now, 'fire_all', 60_000, 10);
      expect(plan.fire).toEqual(Array.from({ length: 10 }, (_, i) => at((111 + i) * MIN)));
      expect(plan.next).toEqual(at(121 * MIN));
      expect(plan.missed).toBe(111);
    });

    it('fire_all below the bound fires every occurrence from due on', () => {
      const plan = planFire(interval(60), T, at(3.5 * MIN), 'fire_all', 60_000, 10);
      expect(plan).toEqual({ fire: [T, at(MIN), at(2 * MIN), at(3 * MIN)], next: at(4 * MIN), missed: 0 });
    });

    it('skip: nothing fired, all counted', () => {
      expect(planFire(interval(60), T, now, 'skip', 60_000, 10)).toEqual({ fire: [], next: at(121 * MIN), missed: 121 });
    });

    it('stays on the due grid when now is between occurrences', () => {
      expect(planFire(interval(60), T, at(120 * MIN + 59_999), 'fire_once', 60_000, 10)).toEqual({ fire: [at(120 * MIN)], next: at(121 * MIN), missed: 120 });
    });

    it('is O(1) for a huge backlog', () => {
      const plan = planFire(interval(0.001), T, at(365 * 86_400_000), 'fire_all', 0, 3);
      expect(plan.fire).toHaveLength(3);
      expect(plan.missed).toBe(365 * 86_400_000 + 1 - 3);
    });
  });

  describe("misfire: cron '*/10 * * * *', 2 h downtime, grace 60 s", () => {
    const now = at(120 * MIN);
    it('fire_once', () => {
      expect(planFire(cron('*/10 * * * *'), T, now, 'fire_once', 60_000, 10)).toEqual({ fire: [now], next: at(130 * MIN), missed: 12 });
    });
    it('fire_all keeps the latest 10', () => {
      const plan = planFire(cron('*/10 * * * *'), T, now, 'fire_all', 60_000, 10);
      expect(plan.fire).toEqual(Array.from({ length: 10 }, (_, i) => at((30 + 10 * i) * MIN)));
      expect(plan.next).toEqual(at(130 * MIN));
      expect(plan.missed).toBe(3);
    });
    it('fire_all below the bound starts at due', () => {
      const plan = planFire(cron('*/10 * * * *'), T, at(25 * MIN), 'fire_all', 60_000, 10);
      expect(plan).toEqual({ fire: [T, at(10 * MIN), at(20 * MIN)], next: at(30 * MIN), missed: 0 });
    });
    it('skip', () => {
      expect(planFire(cron('*/10 * * * *'), T, now, 'skip', 60_000, 10)).toEqual({ fire: [], next: at(130 * MIN), missed: 13 });
    });
    it('now between occurrences: latest <= now, next > now', () => {
      expect(planFire(cron('*/10 * * * *'), T, at(125 * MIN), 'fire_once', 60_000, 10)).toEqual({ fire: [now], next: at(130 * MIN), missed: 12 });
    });
  });

  describe('once', () => {
    const spec = once(T);
    it.each(['fire_once', 'fire_all', 'skip'] as const)('within grace fires it (%s)', (policy) => {
      expect(planFire(spec, T, at(500), policy, 1000, 10)).toEqual({ fire: [T], next: null, missed: 0 });
    });
    it.each(['fire_once', 'fire_all'] as const)('beyond grace %s fires it once', (policy) => {
      expect(planFire(spec, T, at(3_600_000), policy, 1000, 10)).toEqual({ fire: [T], next: null, missed: 0 });
    });
    it('beyond grace skip fires nothing', () => {
      expect(planFire(spec, T, at(3_600_000), 'skip', 1000, 10)).toEqual({ fire: [], next: null, missed: 1 });
    });
  });

  it('every-second cron after 30 days down: a handful of prev()/next() jumps, not millions', () => {
    const steps = [jest.spyOn(CronExpression.prototype, 'next'), jest.spyOn(CronExpression.prototype, 'prev')];
    try {
      const now = at(30 * 86_400_000 + 250);
      const plan = planFire(cron('* * * * * *', 'Europe/Berlin'), T, now, 'fire_once', 1000, 10);
      expect(plan.fire).toEqual([at(30 * 86_400_000)]);
      expect(plan.next).toEqual(at(30 * 86_400_000 + 1000));
      expect(plan.missed).toBe(30 * 86_400);
      expect(steps[0].mock.calls.length + steps[1].mock.calls.length).toBeLessThan(50);
    } finally {
      steps.forEach((s) => s.mockRestore());
    }
  });

  it('validates its arguments', () => {
    expect(thrown(() => planFire(interval(60), T, T, 'later' as 'skip', 0, 10)).field).toBe('misfirePolicy');
    expect(() => planFire(interval(60), T, T, 'skip', -1, 10)).toThrow(InvalidOptionsError);
    expect(() => planFire(interval(60), T, T, 'skip', 0, 0)).toThrow(InvalidOptionsError);
  });
});

/*
 * Brute-force oracle for the DST policy documented in schedule-math.ts, walking every wall-clock minute:
 * fixed-hour expressions run each matching wall time once (first pass of a repeat); every-hour expressions run at
 * every real instant whose wall clock matches; written times a gap skips run once, at the jump, only on a local
 * date that has no other written time.
 */
describe('cron occurrences match a brute-force oracle', () => {
  const dtf = new Map<string, Intl.DateTimeFormat>();
  function offset(tz: string, t: number): number {
    if (!dtf.has(tz)) dtf.set(tz, new Intl.DateTimeFormat('en-GB', { timeZone: tz, hourCycle: 'h23', dateStyle: 'short', timeStyle: 'medium' }));
    const [dd, mm, yyyy, hh, mi, ss] = dtf.get(tz)!.format(t).split(/[/,: ]+/).map(Number);
    return Date.UTC(yyyy, mm - 1, dd, hh, mi, ss) - Math.floor(t / 1000) * 1000;
  }
  function oracle(expr: string, tz: string, from: number, to: number): number[] {
    const matcher = CronExpressionParser.parse(expr, { tz: 'UTC' });
    const allHours = matcher.fields.hour.values.length === 24;
    const exists = (w: number) => [-1, 1].some((k) => w - offset(tz, w + k * 43_200_000) + offset(tz, w - offset(tz, w + k * 43_200_000)) === w);
    // a skipped wall time runs only when its whole local date has no written time that exists: at the jump
    const lonely = (w: number) => {
      const d0 = w - (w % 86_400_000);
      for (let m = d0; m < d0 + 86_400_000; m += MIN) if (matcher.includesDate(new Date(m)) && exists(m)) return false;
      return true;
    };
    const jump = (w: number) => {
      let [a, b] = [w - offset(tz, w + 43_200_000), w - offset(tz, w - 43_200_000)]; // offset before at a, after at b
      const before = offset(tz, a);
      while (b - a > 1000) {
        const m = Math.floor((a + b) / 2000) * 1000;
        [a, b] = offset(tz, m) === before ? [m, b] : [a, m];
      }
      return b;
    };
    const out = new Set<number>();
    for (let w = from - 16 * 3_600_000; w < to + 16 * 3_600_000; w += MIN) {
      if (!matcher.includesDate(new Date(w))) continue;
      const offsets = [-2, -1, 0, 1, 2].map((k) => offset(tz, w + k * 43_200_000));
      const real = [...new Set(offsets.map((o) => w - o))].filter((t) => t + offset(tz, t) === w).sort((a, b) => a - b);
      const chosen = allHours ? real : real.slice(0, 1);
      if (real.length === 0 && lonely(w)) chosen.push(jump(w));
      for (const t of chosen) if (t >= from && t < to) out.add(t);
    }
    return [...out].sort((a, b) => a - b);
  }

  const cases: Array<[string, string, string]> = [
    ['Australia/Lord_Howe', '15,45 2 * * *', '2026-10-03T12:00:00Z'], // 30-minute spring-forward gap at 02:00
    ['Australia/Lord_Howe', '*/20 1 * * *', '2026-04-04T12:00:00Z'], // 30-minute repeat 01:30-02:00
    ['America/Santiago', '0 0 * * *', '2026-09-05T12:00:00Z'], // midnight does not exist on 2026-09-06
    ['America/Santiago', '30 23 * * *', '2026-04-04T12:00:00Z'], // 23:xx repeats on 2026-04-04
    ['Europe/London', '*/30 1 * * *', '2026-03-28T12:00:00Z'],
    ['Europe/London', '*/30 1 * * *', '2026-10-24T12:00:00Z'],
    ['Europe/Berlin', '10 * * * *', '2026-10-24T12:00:00Z'],
    ['Europe/Berlin', '5 2,3 * * *', '2026-03-28T12:00:00Z'],
    ['America/New_York', '0,30 0-3 * * *', '2026-11-01T00:00:00Z'],
    ['America/New_York', '0,30 0-3 * * *', '2026-03-07T12:00:00Z'],
    ['Pacific/Chatham', '45 2,3 * * *', '2026-09-26T00:00:00Z'],
    ['Asia/Kolkata', '*/45 * * * *', '2026-03-28T12:00:00Z'],
  ];

  it.each(cases)('%s %s from %s (2 days)', (tz, expr, start) => {
    const from = Date.parse(start);
    const to = from + 2 * 86_400_000;
    const expected = oracle(expr, tz, from, to);
    expect(expected.length).toBeGreaterThan(0);
    const spec = cron(expr, tz);
    const forward: number[] = [];
    for (let t = nextOccurrence(spec, new Date(from - 1)); t && t.getTime() < to; t = nextOccurrence(spec, t)) forward.push(t.getTime());
    const backward: number[] = [];
    for (let t = previousCronOccurrence(spec, new Date(to - 1)); t && t.getTime() >= from; t = previousCronOccurrence(spec, new Date(t.getTime() - 1))) {
      backward.unshift(t.getTime());
    }
    const iso = (ts: number[]) => ts.map((t) => new Date(t).toISOString());
    expect(iso(forward)).toEqual(iso(expected));
    expect(iso(backward)).toEqual(iso(expected));
  });
});

/*
 * Issue 21, the rule at the edges (README "Schedules", DST table). A gap never invents a time: written times it
 * skips run once, at the jump, only on a date that has no other written time. A repeated hour is judged
 * against the wall clock the schedule has reached, so one created on the second pass still runs what is ahead.
 */
describe('DST edges: 30- and 45-minute zones, coalesced gaps, the second pass', () => {
  function walk(expr: string, tz: string, from: string, to: string): string[] {
    const out: string[] = [];
    for (let t = nextOccurrence(cron(expr, tz), d(from)); t && t < d(to); t = nextOccurrence(cron(expr, tz), t)) out.push(t.toISOString());
    return out;
  }
  function back(expr: string, tz: string, from: string, to: string): string[] {
    const out: string[] = [];
    for (let t = previousCronOccurrence(cron(expr, tz), new Date(d(to).getTime() - 1)); t && t > d(from); t = previousCronOccurrence(cron(expr, tz), new Date(t.getTime() - 1))) {
      out.unshift(t.toISOString());
    }
    return out;
  }

  // Chatham: 2026-09-27 02:45 +12:45 -> 03:45 +13:45 (at 2026-09-26T14:00Z).
  it('Chatham */15 3: the skipped 03:00-03:30 add nothing, 03:45 runs once (not 03:45, 04:00, 04:15, 04:30)', () => {
    const want = ['2026-09-26T14:00:00.000Z']; // 03:45 CHADT
    expect(walk('*/15 3 * * *', 'Pacific/Chatham', '2026-09-26T12:00:00Z', '2026-09-27T12:00:00Z')).toEqual(want);
    expect(back('*/15 3 * * *', 'Pacific/Chatham', '2026-09-26T12:00:00Z', '2026-09-27T12:00:00Z')).toEqual(want);
  });

  it('Chatham */15 2-3: 02:00, 02:15, 02:30 CHAST, then 03:45 CHADT (nothing at 04:00-04:30)', () => {
    const want = ['2026-09-26T13:15:00.000Z', '2026-09-26T13:30:00.000Z', '2026-09-26T13:45:00.000Z', '2026-09-26T14:00:00.000Z'];
    expect(walk('*/15 2-3 * * *', 'Pacific/Chatham', '2026-09-26T12:00:00Z', '2026-09-27T12:00:00Z')).toEqual(want);
    expect(back('*/15 2-3 * * *', 'Pacific/Chatham', '2026-09-26T12:00:00Z', '2026-09-27T12:00:00Z')).toEqual(want);
  });

  // Lord Howe: 2026-10-04 02:00 +10:30 -> 02:30 +11 (at 2026-10-03T15:30Z), a 30-minute jump.
  it('Lord Howe */20 2-3: 02:40, 03:00, 03:20, 03:40, each 20 min apart (not 02:30, 02:40, 02:50, 03:00)', () => {
    const want = ['2026-10-03T15:40:00.000Z', '2026-10-03T16:00:00.000Z', '2026-10-03T16:20:00.000Z', '2026-10-03T16:40:00.000Z'];
    expect(walk('*/20 2-3 * * *', 'Australia/Lord_Howe', '2026-10-03T12:00:00Z', '2026-10-04T12:00:00Z')).toEqual(want);
    expect(back('*/20 2-3 * * *', 'Australia/Lord_Howe', '2026-10-03T12:00:00Z', '2026-10-04T12:00:00Z')).toEqual(want);
  });

  it('a day whose only times are skipped runs once, at the jump (Lord Howe 02:30, Berlin 03:00), not once per time', () => {
    // 02:00-02:20 are skipped, but 02:30, 02:40, 02:50 exist that day: they run as written, nothing extra
    expect(walk('*/10 2 * * *', 'Australia/Lord_Howe', '2026-10-03T12:00:00Z', '2026-10-04T12:00:00Z')).toEqual([
      '2026-10-03T15:30:00.000Z',
      '2026-10-03T15:40:00.000Z',
      '2026-10-03T15:50:00.000Z',
    ]);
    expect(walk('15 2 * * *', 'Australia/Lord_Howe', '2026-10-03T12:00:00Z', '2026-10-04T12:00:00Z')).toEqual(['2026-10-03T15:30:00.000Z']);
    expect(walk('*/5 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', '2026-03-29T12:00:00Z')).toEqual(['2026-03-29T01:00:00.000Z']);
    // a day with another written time just runs that one: 01:30 CET, and no extra run for the skipped 02:30
    expect(walk('30 1,2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', '2026-03-29T12:00:00Z')).toEqual(['2026-03-29T00:30:00.000Z']);
  });

  // New York: 2025-11-02 02:00 EDT -> 01:00 EST (at 06:00Z); 01:00-01:59 happens twice.
  it('created at 01:30:45 EST on the second pass, 0 15,45 1 * * SUN-TUE next runs at 01:45 EST that night', () => {
    const spec = cron('0 15,45 1 * * SUN-TUE', 'America/New_York');
    expect(initialRun(spec, d('2025-11-02T06:30:45Z'))).toEqual(d('2025-11-02T06:45:00Z'));
    expect(nextOccurrence(spec, d('2025-11-02T06:45:00Z'))).toEqual(d('2025-11-03T06:15:00Z')); // Monday 01:15 EST
    // created on the first pass at 01:50 EDT: the wall clock has passed 01:15 and 01:45, the second pass runs nothing
    expect(initialRun(spec, d('2025-11-02T05:50:00Z'))).toEqual(d('2025-11-03T06:15:00Z'));
    // a schedule that ran 01:15 EDT runs 01:45 EDT and not the second 01:15
    expect(nextOccurrence(spec, d('2025-11-02T05:15:00Z'))).toEqual(d('2025-11-02T05:45:00Z'));
    expect(nextOccurrence(spec, d('2025-11-02T05:45:00Z'))).toEqual(d('2025-11-03T06:15:00Z'));
  });

  it('resumed on the second pass: what the last run already covered on the first pass does not run again', () => {
    const spec = cron('0 15,45 1 * * SUN-TUE', 'America/New_York');
    // ran 01:15 EDT, paused, resumed at 01:10 EST: 01:15 is not run twice, 01:45 (never run) is, on the second pass
    expect(initialRun(spec, d('2025-11-02T06:10:00Z'), d('2025-11-02T05:15:00Z'))).toEqual(d('2025-11-02T06:45:00Z'));
    expect(initialRun(spec, d('2025-11-02T06:10:00Z'))).toEqual(d('2025-11-02T06:15:00Z'));
    expect(initialRun(spec, d('2025-11-02T06:10:00Z'), null)).toEqual(d('2025-11-02T06:15:00Z'));
  });

  it('a misfire across the repeated hour judges the second pass against the last run', () => {
    const spec = cron('0 15,45 1 * * SUN-TUE', 'America/New_York');
    // 01:45 EDT is run late at 01:20 EST: 01:45 EST is the same wall time again, not run
    expect(planFire(spec, d('2025-11-02T05:45:00Z'), d('2025-11-02T06:20:00Z'), 'fire_once', 1000, 10)).toEqual({
      fire: [d('2025-11-02T05:45:00Z')], next: d('2025-11-03T06:15:00Z'), missed: 0,
    });
    // skipped instead: the schedule has not run 01:45 today, so its second pass does
    expect(planFire(spec, d('2025-11-02T05:45:00Z'), d('2025-11-02T06:20:00Z'), 'skip', 1000, 10)).toEqual({
      fire: [], next: d('2025-11-02T06:45:00Z'), missed: 1,
    });
  });
});
