import { serializeParams } from './task-validation';

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
