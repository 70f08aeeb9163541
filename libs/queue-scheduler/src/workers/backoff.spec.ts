import { backoffDelay } from './backoff';

const policy = { attempts: 5, backoff: 'exponential' as const, delayMs: 100, jitter: 0, maxDelayMs: 1000 };

describe('backoffDelay', () => {
  it('doubles per failed try and stops at maxDelayMs', () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(policy, a))).toEqual([100, 200, 400, 800, 1000]);
  });

  it('fixed backoff waits the same each time', () => {
    expect([1, 2, 3].map((a) => backoffDelay({ ...policy, backoff: 'fixed' }, a))).toEqual([100, 100, 100]);
  });

  it('jitter stays within the stated fraction', () => {
    const p = { ...policy, jitter: 0.2 };
    expect(backoffDelay(p, 1, () => 0)).toBe(80);
    expect(backoffDelay(p, 1, () => 1)).toBe(120);
    expect(backoffDelay(p, 1, () => 0.5)).toBe(100);
  });
});
