import fc from 'fast-check';
import { ScheduleCounts } from './schedule-counts';

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 20_1205;

describe('ScheduleCounts', () => {
  it('reads what a plain per-schedule count reads, over any sequence of runs starting and ending', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.boolean()), { maxLength: 400 }), (ops) => {
        const counts = new ScheduleCounts();
        const model = new Map<string, number>();
        for (const [n, start] of ops) {
          const id = `s${n}`;
          const had = model.get(id) ?? 0;
          // a run ends only if one is unfinished: the queue never counts below zero
          if (!start && had === 0) continue;
          model.set(id, had + (start ? 1 : -1));
          counts.add(id, start ? 1 : -1);
          for (let i = 0; i <= 40; i++) expect(counts.of(`s${i}`)).toBe(model.get(`s${i}`) ?? 0);
        }
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('keeps the key of a schedule whose run ended, so steady schedules do not churn the map', () => {
    const counts = new ScheduleCounts();
    for (let second = 0; second < 5; second++) {
      for (let i = 0; i < 5000; i++) counts.add(`s${i}`, 1);
      for (let i = 0; i < 5000; i++) counts.add(`s${i}`, -1);
    }
    expect(counts.size).toBe(5000);
    expect(counts.of('s0')).toBe(0);
  });

  it('drops idle keys of schedules that come and go, holding O(busy) keys', () => {
    const counts = new ScheduleCounts();
    counts.add('steady', 1);
    for (let i = 0; i < 100_000; i++) {
      counts.add(`once-${i}`, 1);
      counts.add(`once-${i}`, -1);
    }
    expect(counts.size).toBeLessThanOrEqual(2 * 2 + 1024 + 1);
    expect(counts.of('steady')).toBe(1);
    expect(counts.of('once-99999')).toBe(0);
  });
});
