import fc from 'fast-check';
import { storeExpiry } from './public-store';

describe('storeExpiry', () => {
  // a TTL under the float step at an epoch in ms (~0.1 µs) once added nothing, and the key was expired as it was set
  it.each([1e-7, 1e-12, Number.MIN_VALUE])('keeps a key set with a TTL of %p s for its first millisecond', (ttl) => {
    const now = 1_796_000_000_123;
    expect(storeExpiry('k', ttl, now)).toBe(now + 1);
  });

  it('never expires a key earlier than asked, nor later than the next whole millisecond after that', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-300, max: 1e6, noNaN: true }), fc.integer({ min: 1_600_000_000_000, max: 2_000_000_000_000 }), fc.boolean(), (ttl, whole, fractional) => {
        const now = fractional ? whole + 0.5 : whole;
        const at = storeExpiry('k', ttl, now);
        expect(Number.isInteger(at)).toBe(true);
        expect(at).toBeGreaterThan(now);
        expect(at).toBeGreaterThanOrEqual(now + ttl * 1000);
        expect(at).toBeLessThanOrEqual(now + ttl * 1000 + 1);
      }),
      { seed: 20261207, numRuns: 500 },
    );
  });
});
