import { TaskAbort } from './task-abort';

describe('TaskAbort', () => {
  it('gives a signal that aborts with the reason, whether it was read before or after the abort', () => {
    const early = new TaskAbort();
    const signal = early.signal;
    const reason = new Error('timeout');
    early.abort(reason);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reason);

    const late = new TaskAbort();
    late.abort(reason);
    expect(late.signal.aborted).toBe(true);
    expect(late.signal.reason).toBe(reason);
  });

  it('keeps the first reason', () => {
    const abort = new TaskAbort();
    const first = new Error('first');
    abort.abort(first);
    abort.abort(new Error('second'));
    expect(abort.reason).toBe(first);
    expect(abort.signal.reason).toBe(first);
  });

  it('race passes a synchronous result through and settles with a promise that wins', async () => {
    const abort = new TaskAbort();
    expect(abort.race(42)).toBe(42);
    await expect(abort.race(Promise.resolve('done'))).resolves.toBe('done');
    await expect(abort.race(Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });

  it('race rejects with the reason as soon as abort is called, even if the work never settles', async () => {
    const abort = new TaskAbort();
    const reason = new Error('shutdown');
    const raced = abort.race(new Promise<never>(() => undefined));
    abort.abort(reason);
    await expect(raced).rejects.toBe(reason);
    await expect(abort.race(Promise.resolve(1))).rejects.toBe(reason);
  });
});
