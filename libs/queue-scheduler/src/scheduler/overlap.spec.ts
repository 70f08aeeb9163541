import { type OverlapSchedule, planOverlap, WaitingSchedules } from './overlap';

const T = Date.parse('2026-04-01T10:00:00.000Z');
const s = 1000;
const limits = { misfireGraceMs: 60_000, maxCatchUp: 100 };
const times = (ds: Date[] | undefined) => (ds ?? []).map((d) => d.getTime() - T);

function row(over: Partial<OverlapSchedule>): OverlapSchedule {
  return { scheduleType: 'interval', intervalSeconds: 1, nextRunAt: new Date(T), misfirePolicy: 'fire_once', runCount: 0, maxRuns: 0, overlap: 'skip', ...over };
}

describe('planOverlap', () => {
  it('skip, previous run unfinished: fires nothing, reports the due occurrence skipped and moves on', () => {
    const plan = planOverlap(row({}), T + 200, limits, true)!;
    expect(times(plan.fire)).toEqual([]);
    expect(times(plan.skipped)).toEqual([0]);
    expect(plan.next!.getTime() - T).toBe(s);
  });

  it('skip, idle: fires the first occurrence due and skips those due with it; never claims ahead', () => {
    const plan = planOverlap(row({ nextRunAt: new Date(T - 2 * s) }), T + 100, limits, false)!;
    expect(times(plan.fire)).toEqual([-2 * s]);
    expect(times(plan.skipped)).toEqual([-s, 0]);
    expect(plan.next!.getTime() - T).toBe(s);
  });

  it('skip keeps the misfire policy for a downtime: fire_once leaves one late occurrence, the rest is missed', () => {
    const plan = planOverlap(row({ nextRunAt: new Date(T - 3600 * s) }), T, limits, false)!;
    expect(plan.fire).toHaveLength(1);
    expect(plan.missed).toBeGreaterThan(0);
  });

  it('wait, previous run unfinished: leaves the row as it is', () => {
    expect(planOverlap(row({ overlap: 'wait' }), T + 5 * s, limits, true)).toBeNull();
  });

  it('wait, idle: every occurrence due folds into one run, the latest, even past the grace and with misfire skip', () => {
    const plan = planOverlap(row({ overlap: 'wait', misfirePolicy: 'skip', nextRunAt: new Date(T - 120 * s) }), T, limits, false)!;
    expect(times(plan.fire)).toEqual([0]);
    expect(plan.coalesced).toBe(120);
    expect(plan.missed).toBe(0);
    expect(plan.next!.getTime() - T).toBe(s);
  });

  it('counts maxRuns by the runs fired, not the occurrences given up', () => {
    const skip = planOverlap(row({ maxRuns: 2, runCount: 1, nextRunAt: new Date(T - s) }), T, limits, true)!;
    expect(skip.next).not.toBeNull();
    const wait = planOverlap(row({ overlap: 'wait', maxRuns: 2, runCount: 1, nextRunAt: new Date(T - s) }), T, limits, false)!;
    expect(times(wait.fire)).toEqual([0]);
    expect(wait.next).toBeNull();
  });
});

describe('WaitingSchedules', () => {
  it('holds a schedule until its recheck time, then lets it go', () => {
    const waiting = new WaitingSchedules(250);
    waiting.hold('a', T);
    waiting.hold('b', T + 100);
    expect(waiting.held(T + 200)).toEqual(['a', 'b']);
    expect(waiting.nextRecheck()).toBe(T + 250);
    expect(waiting.held(T + 250)).toEqual(['b']);
    expect(waiting.held(T + 350)).toEqual([]);
    expect(waiting.nextRecheck()).toBeNull();
  });
});
