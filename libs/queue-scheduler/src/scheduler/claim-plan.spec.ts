import { type ClaimableSchedule, planClaim } from './claim-plan';

const T = Date.parse('2026-04-01T10:00:00.000Z');
const iso = (ds: Date[]) => ds.map((x) => x.toISOString());
const limits = { misfireGraceMs: 60_000, maxCatchUp: 100 };

function row(over: Partial<ClaimableSchedule>): ClaimableSchedule {
  return { scheduleType: 'interval', intervalSeconds: 1, nextRunAt: new Date(T), misfirePolicy: 'fire_once', runCount: 0, maxRuns: 0, ...over };
}

describe('planClaim', () => {
  it('takes every occurrence up to the horizon, each on time, and moves next_run_at past it', () => {
    const plan = planClaim(row({ nextRunAt: new Date(T + 200) }), T, T + 2500, limits);
    expect(iso(plan.fire)).toEqual(['2026-04-01T10:00:00.200Z', '2026-04-01T10:00:01.200Z', '2026-04-01T10:00:02.200Z']);
    expect(plan.next!.toISOString()).toBe('2026-04-01T10:00:03.200Z');
    expect(plan.missed).toBe(0);
  });

  it('an occurrence in the future is on time whatever the misfire policy', () => {
    const plan = planClaim(row({ nextRunAt: new Date(T + 500), misfirePolicy: 'skip' }), T, T + 1000, limits);
    expect(iso(plan.fire)).toEqual(['2026-04-01T10:00:00.500Z']);
  });

  it('applies the misfire policy to the occurrences already past, then takes those within the horizon', () => {
    const late = row({ intervalSeconds: 10, nextRunAt: new Date(T - 3600_000 + 3000), misfirePolicy: 'skip' });
    const plan = planClaim(late, T, T + 5000, limits);
    // 10:00:03 is the first grid point after now; the 360 points from 09:00:03 to 09:59:53 were missed
    expect(iso(plan.fire)).toEqual(['2026-04-01T10:00:03.000Z']);
    expect(plan.missed).toBe(360);
    expect(plan.next!.toISOString()).toBe('2026-04-01T10:00:13.000Z');
  });

  it('late within grace: each due occurrence runs, in one claim', () => {
    const plan = planClaim(row({ nextRunAt: new Date(T - 3000) }), T, T, limits);
    expect(plan.fire).toHaveLength(4); // T-3s, T-2s, T-1s, T
    expect(plan.next!.getTime()).toBe(T + 1000);
  });

  it('with no lookahead a future occurrence is not taken', () => {
    const plan = planClaim(row({ nextRunAt: new Date(T + 1) }), T, T, limits);
    expect(plan).toEqual({ fire: [], next: new Date(T + 1), missed: 0 });
  });

  it('takes at most maxCatchUp occurrences of a row per claim', () => {
    const plan = planClaim(row({ intervalSeconds: 0.001 }), T, T + 1000, { ...limits, maxCatchUp: 100 });
    expect(plan.fire).toHaveLength(100);
    expect(plan.next!.getTime()).toBe(T + 100);
  });

  it('never past maxRuns: the last run ends the schedule', () => {
    const plan = planClaim(row({ runCount: 8, maxRuns: 10 }), T, T + 5000, limits);
    expect(plan.fire).toHaveLength(2);
    expect(plan.next).toBeNull();
  });

  it('a once schedule: its one occurrence, then no next', () => {
    const plan = planClaim(row({ scheduleType: 'once', executeAt: new Date(T + 700), nextRunAt: new Date(T + 700) }), T, T + 1000, limits);
    expect(plan).toEqual({ fire: [new Date(T + 700)], next: null, missed: 0 });
  });
});
