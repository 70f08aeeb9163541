import { TaskTimeoutError } from '../errors/errors';
import type { RegisteredHandler } from '../handlers/task-handler.registry';
import type { Task, TaskContext } from '../interfaces/task.interface';
import { TaskRun, type TryOwner } from './task-run';

const task = (): Task => ({ taskId: 't1', type: 'x', params: { a: 1 }, priority: 0, runAt: new Date(), attempts: 1, createdAt: new Date() });

function handler(fn: RegisteredHandler['fn'], timeoutMs?: number): RegisteredHandler {
  return { type: 'x', name: 'Test.x', fn, concurrency: Infinity, timeoutMs, retries: { attempts: 1, backoff: 'fixed', delayMs: 0, jitter: 0, maxDelayMs: 0 }, paused: false };
}

/** Records how each try ended. */
function owner(): TryOwner & { ends: Array<{ ok: boolean; value: unknown; durationMs: number }> } {
  const ends: Array<{ ok: boolean; value: unknown; durationMs: number }> = [];
  return { ends, clock: 0, ended: (run, ok, value) => void ends.push({ ok, value, durationMs: run.durationMs }), writeProgress: () => undefined,
    childResults: () => Promise.resolve({}), progressIntervalMs: 250 };
}

describe('TaskRun', () => {
  it('ends a synchronous handler before start returns, with its value or its throw', () => {
    const o = owner();
    const run = new TaskRun(task(), 3, handler((params: { a: number }, ctx) => `${params.a}/${ctx.attempt}/${ctx.maxAttempts}/${ctx.taskId}`), o, performance.now());
    expect(run.start()).toBe(true);
    const failing = new TaskRun(task(), 1, handler(() => { throw new Error('sync boom'); }), o, performance.now());
    expect(failing.start()).toBe(true);
    expect(o.ends.map((e) => [e.ok, e.ok ? e.value : (e.value as Error).message])).toEqual([[true, '1/1/3/t1'], [false, 'sync boom']]);
    expect(o.ends.every((e) => e.durationMs >= 0 && e.durationMs < 1000)).toBe(true);
  });

  it('ends an asynchronous handler when its promise settles, once', async () => {
    const o = owner();
    let resolve!: (v: string) => void;
    const run = new TaskRun(task(), 1, handler(() => new Promise<string>((r) => (resolve = r))), o, performance.now());
    expect(run.start()).toBe(false);
    expect(o.ends).toEqual([]);
    resolve('done');
    await new Promise((r) => setImmediate(r));
    run.abort(new Error('too late'));
    expect(o.ends).toEqual([expect.objectContaining({ ok: true, value: 'done' })]);
  });

  it('abort ends the try at once with the reason and aborts a signal read before or after, keeping the first reason', async () => {
    const o = owner();
    let early: AbortSignal | undefined;
    const run = new TaskRun(task(), 1, handler((_p, ctx) => {
      early = ctx.signal;
      return new Promise<never>(() => undefined);
    }), o, performance.now());
    run.start();
    const reason = new Error('shutdown');
    run.abort(reason);
    run.abort(new Error('second'));
    expect(early?.aborted).toBe(true);
    expect(early?.reason).toBe(reason);
    expect(run.signal.reason).toBe(reason);
    expect(run.reason).toBe(reason);
    expect(o.ends).toEqual([expect.objectContaining({ ok: false, value: reason })]);
  });

  it('a handler past its timeoutMs ends with TaskTimeoutError and its signal aborted', () => {
    jest.useFakeTimers();
    const o = owner();
    let signal: AbortSignal | undefined;
    const run = new TaskRun(task(), 1, handler((_p, ctx) => {
      signal = ctx.signal;
      return new Promise<never>(() => undefined);
    }, 10), o, performance.now());
    run.start();
    jest.advanceTimersByTime(9);
    expect(o.ends).toHaveLength(0);
    jest.advanceTimersByTime(1);
    jest.useRealTimers();
    expect(o.ends).toHaveLength(1);
    expect(o.ends[0].value).toBeInstanceOf(TaskTimeoutError);
    expect(signal?.reason).toBe(o.ends[0].value);
  });

  it('a handler that never reads the signal gets no AbortController', () => {
    const o = owner();
    const run = new TaskRun(task(), 1, handler(() => 1), o, performance.now());
    run.start();
    expect((run as unknown as { pending?: unknown }).pending).toBeUndefined();
  });
  it('a context a handler keeps reads after its try as it did during it', () => {
    const o = owner();
    let kept: TaskContext | undefined;
    const run = new TaskRun(task(), 3, handler((_p, ctx) => void (kept = ctx)), o, performance.now());
    run.start();
    expect(kept).toBe(run);
    expect([kept?.taskId, kept?.type, kept?.attempt, kept?.maxAttempts, kept?.task.params]).toEqual(['t1', 'x', 1, 3, { a: 1 }]);
    expect(kept?.signal.aborted).toBe(false);
    kept?.progress(50);
    expect((run as unknown as { pending?: { progress?: unknown } }).pending?.progress).toBeUndefined();
    expect(o.ends).toHaveLength(1);
    expect(o.clock).toBeGreaterThan(0);
  });

  it('cancel aborts a signal read after it with the cancel, and an abort after it keeps that reason', () => {
    const o = owner();
    const run = new TaskRun(task(), 1, handler(() => new Promise<never>(() => undefined)), o, performance.now());
    run.start();
    const cancel = new Error('cancelled');
    expect(run.cancel(cancel)).toBe(true);
    expect(run.cancelledBy).toBe(cancel);
    expect(run.signal.reason).toBe(cancel);
    run.abort(new Error('shutdown'));
    expect(run.signal.reason).toBe(cancel);
    expect(run.reason?.message).toBe('shutdown');
    expect(run.cancel(new Error('late'))).toBe(false);
    expect(o.ends).toHaveLength(1);
  });
});
