import { FixedHistogram } from './histogram';

describe('FixedHistogram', () => {
  it('counts each observation in the first bucket whose bound is not below it, cumulatively', () => {
    const h = new FixedHistogram([10, 100, 1000]);
    for (const v of [0, 10, 11, 100, 999, 1000, 1001, 50_000]) h.observe(v);
    expect(h.snapshot()).toEqual({ bounds: [10, 100, 1000], cumulative: [2, 4, 6], count: 8, sum: 53_121, max: 50_000 });
  });

  it('clamps negative values (clock skew) to 0 and ignores NaN and Infinity', () => {
    const h = new FixedHistogram([1]);
    h.observe(-5);
    h.observe(Number.NaN);
    h.observe(Infinity);
    expect(h.snapshot()).toMatchObject({ cumulative: [1], count: 1, sum: 0, max: 0 });
  });

  it('keeps the same memory however many observations it gets', () => {
    const h = new FixedHistogram([1, 2, 3]);
    for (let i = 0; i < 100_000; i++) h.observe(i % 5);
    const s = h.snapshot();
    expect(s.cumulative).toEqual([40_000, 60_000, 80_000]);
    expect(s.count).toBe(100_000);
  });
});
