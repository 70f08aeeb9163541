import { resolveOptions } from './queue-scheduler.options';

describe('resolveOptions: scheduler.lookaheadMs', () => {
  it('claims a second ahead by default, and not at all by default on the database backend', () => {
    expect(resolveOptions().scheduler.lookaheadMs).toBe(1000);
    expect(resolveOptions({ queue: { backend: 'redis' } }).scheduler.lookaheadMs).toBe(1000);
    expect(resolveOptions({ queue: { backend: 'database' } }).scheduler.lookaheadMs).toBe(0);
  });

  it('takes the value given, on every backend', () => {
    expect(resolveOptions({ queue: { backend: 'database' }, scheduler: { lookaheadMs: 2000 } }).scheduler.lookaheadMs).toBe(2000);
    expect(resolveOptions({ scheduler: { lookaheadMs: 0 } }).scheduler.lookaheadMs).toBe(0);
  });
});
