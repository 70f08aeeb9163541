import fc from 'fast-check';
import { describeValue, type InvalidTaskError } from '../errors/errors';
import { keyProblem } from './json-value';
import { serializeParams } from './task-validation';

describe('keyProblem counts characters as MySQL and PostgreSQL do (code points)', () => {
  it('takes 191 emoji for a 191-character key and refuses 192, naming the count', () => {
    expect(keyProblem('😀'.repeat(191), 191)).toBeNull();
    expect(keyProblem('😀'.repeat(192), 191)).toMatch(/at most 191 characters \(it has 192\)/);
    expect(keyProblem('x'.repeat(192), 191)).toMatch(/it has 192\)/);
    // a lone surrogate is one character too long or refused, never counted away
    expect(keyProblem('😀'.repeat(190) + '\ud800', 191)).toMatch(/lone surrogate/);
    expect(keyProblem('😀'.repeat(191) + '\ud800', 191)).toMatch(/it has 192\)/);
  });

  it('agrees with the code points of any string (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.integer({ min: 1, max: 30 }), (value, max) => {
        const problem = keyProblem(value, max);
        const points = [...value].length;
        if (value === '') expect(problem).not.toBeNull();
        else if (points > max) expect(problem).toContain(`(it has ${points})`);
        else expect(problem ?? '').not.toContain('it has');
      }),
      { seed: 20261207, numRuns: 500 },
    );
  });

  it("describeValue does not cut a long value's last emoji in half", () => {
    const shown = describeValue('😀'.repeat(500));
    expect(shown.isWellFormed()).toBe(true);
    expect(shown).not.toContain('\ufffd');
    // counted in characters, as the rule is
    expect(shown).toMatch(/\(500 characters\)$/);
  });
});

describe('serializeParams of empty params', () => {
  it('gives each push a fresh plain object, as a {} literal would be', () => {
    const inputs: unknown[] = [undefined, {}, { gone: undefined }];
    const made = inputs.map((p) => serializeParams(p, 1024) as Record<string, unknown>);
    for (const params of made) {
      expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
      expect(params.constructor).toBe(Object);
      expect(params).toStrictEqual({});
      expect(JSON.stringify(params)).toBe('{}');
      expect(Object.isExtensible(params)).toBe(true);
    }
    expect(new Set(made).size).toBe(3);
    // a handler may fill its params: no other task sees it
    for (let i = 0; i < 6; i++) made[0][`k${i}`] = i;
    expect(made[0]).toEqual({ k0: 0, k1: 1, k2: 2, k3: 3, k4: 4, k5: 5 });
    expect(made[1]).toStrictEqual({});
  });

  it('copies flat params key by key, dropping undefined values', () => {
    const raw = { a: 1, b: 'x', c: undefined, d: null, e: true };
    const params = serializeParams(raw, 1024);
    expect(params).toStrictEqual({ a: 1, b: 'x', d: null, e: true });
    expect(params).not.toBe(raw);
  });
});

describe('serializeParams of flat params (a copy key by key) against the general walk', () => {
  type Outcome = { ok: true; value: unknown } | { ok: false; type: string; field: string };
  const outcome = (make: () => unknown): Outcome => {
    try {
      return { ok: true, value: make() };
    } catch (err) {
      const field = (err as InvalidTaskError).field;
      return { ok: false, type: (err as Error).constructor.name, field: field.replace(/^params\.w(?=\.|$)/, 'params') };
    }
  };

  it('accepts, drops and refuses exactly what the walk does (which nested params take), naming the same field', () => {
    const piece = fc.constantFrom('a', 'k', 'é', '😀', ' ', '1', '\0', '\ud800', '\udfff', '\ud83d', '__proto__', 'toJSON');
    const text = fc.array(piece, { maxLength: 3 }).map((p) => p.join(''));
    const leaf = fc.oneof(text, fc.constantFrom(undefined, null, NaN, Infinity, -Infinity, -0, 1.5, true, false));
    fc.assert(
      fc.property(fc.dictionary(text, leaf, { maxKeys: 5 }), (raw) => {
        const flat = outcome(() => serializeParams(raw, 1 << 20));
        const walked = outcome(() => (serializeParams({ w: raw }, 1 << 20) as { w: unknown }).w);
        expect(flat).toStrictEqual(walked);
      }),
      { seed: 20261205, numRuns: 3000 },
    );
  });

  it('refuses a lone surrogate in a key whose value is undefined, as the walk does, though JSON would drop the key', () => {
    const error = outcome(() => serializeParams({ ok: 1, 'k\ud800': undefined }, 1024));
    expect(error).toEqual({ ok: false, type: 'InvalidTaskError', field: 'params.k\ud800' });
  });
});
