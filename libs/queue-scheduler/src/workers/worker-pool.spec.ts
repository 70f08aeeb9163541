import { NoTaskHandlerError, QueueSchedulerError, TaskTimeoutError } from '../errors/errors';
import { TaskShutdownError } from '../errors/conflict-errors';
import { TaskHandlerRegistry } from '../handlers/task-handler.registry';
import type { QueueSchedulerModuleOptions } from '../interfaces/options.interface';
import type { TaskContext, TaskEvent } from '../interfaces/task.interface';
import { resolveOptions } from '../queue-scheduler.options';
import { MemoryQueueService } from '../queue/memory/memory-queue.service';
import { WorkerPool } from './worker-pool';

function setup(options: QueueSchedulerModuleOptions = {}) {
  const resolved = resolveOptions({ logLevel: 'fatal', ...options });
  const queue = new MemoryQueueService(resolved);
  const registry = new TaskHandlerRegistry(resolved);
  const pool = new WorkerPool(queue, registry, resolved);
  const events: TaskEvent[] = [];
  queue.events$.subscribe((e) => events.push(e));
  return { queue, registry, pool, events };
}

/** Resolves once `predicate` holds, polling on the event loop; fails the test after `timeoutMs`. */
async function waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setImmediate(r));
  }
}

describe('WorkerPool', () => {
  afterEach(() => jest.useRealTimers());

  it('runs 10,000 tasks through 4 workers, each exactly once', async () => {
    const { queue, registry, pool } = setup({ workers: { concurrency: 4 } });
    const seen = new Map<string, number>();
    let concurrent = 0;
    let maxConcurrent = 0;
    registry.register('count', 'Test.count', async (_p, ctx: TaskContext) => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      seen.set(ctx.taskId, (seen.get(ctx.taskId) ?? 0) + 1);
      await new Promise((r) => setImmediate(r));
      concurrent--;
    });
    pool.start();
    for (let i = 0; i < 10_000; i++) queue.pushTask({ taskId: `t${i}`, type: 'count', params: { i } });
    await queue.onIdle();
    expect(seen.size).toBe(10_000);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(maxConcurrent).toBe(4);
    expect(queue.getQueueSize()).toBe(0);
    expect(queue.countByStatus()).toMatchObject({ succeeded: 10_000, pending: 0, running: 0, dead: 0 });
    await pool.stop();
    // counts are what this asserts, not speed: a loaded 2-core CI runner took just over Jest's default 5 s
  }, 30_000);

  it('runs synchronous handlers back to back, yet lets timers and I/O run while a long backlog drains', async () => {
    const { queue, registry, pool } = setup({ workers: { concurrency: 10 } });
    let ran = 0;
    registry.register('sync', 'Test.sync', () => void ran++);
    const total = 300_000;
    queue.pushTasks(Array.from({ length: total }, () => ({ type: 'sync' })));
    const ranWhenTimerFired = new Promise<number>((resolve) => setTimeout(() => resolve(ran), 0));
    pool.start();
    await queue.onIdle();
    expect(ran).toBe(total);
    // the pool gave the event loop a turn in the middle of the drain, not only at its end
    const seen = await ranWhenTimerFired;
    expect(seen).toBeGreaterThan(0);
    expect(seen).toBeLessThan(total);
    await pool.stop();
  }, 30_000);

  it("caps a handler's own concurrency below the pool's", async () => {
    const { queue, registry, pool } = setup({ workers: { concurrency: 6 } });
    let concurrent = 0;
    let maxConcurrent = 0;
    registry.register('capped', 'Test.capped', async () => {
      maxConcurrent = Math.max(maxConcurrent, ++concurrent);
      await new Promise((r) => setTimeout(r, 2));
      concurrent--;
    }, { concurrency: 2 });
    let other = 0;
    registry.register('free', 'Test.free', () => void other++);
    pool.start();
    for (let i = 0; i < 40; i++) queue.pushTask({ type: 'capped' });
    for (let i = 0; i < 40; i++) queue.pushTask({ type: 'free' });
    await queue.onIdle();
    expect(maxConcurrent).toBe(2);
    expect(other).toBe(40);
    await pool.stop();
  });

  it('retries a failing task by its policy and then succeeds', async () => {
    const { queue, registry, pool, events } = setup();
    const attempts: number[] = [];
    registry.register('flaky', 'Test.flaky', (_p, ctx: TaskContext) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt < 3) throw new Error(`try ${ctx.attempt} failed`);
      return 'ok';
    }, { retries: { attempts: 3, backoff: 'fixed', delayMs: 1 } });
    pool.start();
    const id = queue.pushTask({ type: 'flaky' });
    await queue.onIdle();
    expect(attempts).toEqual([1, 2, 3]);
    expect(queue.getTask(id)).toMatchObject({ status: 'succeeded', attempts: 3, result: 'ok' });
    expect(events.filter((e) => e.taskId === id).map((e) => e.kind)).toEqual([
      'queued', 'started', 'retrying', 'started', 'retrying', 'started', 'succeeded',
    ]);
    await pool.stop();
  });

  it('keeps a task whose attempts ran out as dead, with its error; a worker survives it', async () => {
    const { queue, registry, pool } = setup();
    registry.register('bad', 'Test.bad', () => Promise.reject(new Error('always broken')), {
      retries: { attempts: 2, backoff: 'fixed', delayMs: 1 },
    });
    registry.register('good', 'Test.good', () => 'fine');
    pool.start();
    const bad = queue.pushTask({ type: 'bad' });
    const good = queue.pushTask({ type: 'good' });
    await queue.onIdle();
    expect(queue.getTask(bad)).toMatchObject({ status: 'dead', attempts: 2, error: 'always broken' });
    expect(queue.listDeadTasks().map((t) => t.taskId)).toEqual([bad]);
    expect(queue.getTask(good).status).toBe('succeeded');
    // re-queue from the dead-letter list: it runs again with a fresh attempt count
    queue.retryTask(bad);
    await queue.onIdle();
    expect(queue.getTask(bad)).toMatchObject({ status: 'dead', attempts: 2 });
    await pool.stop();
  });

  it("a task's own maxRetries overrides the handler policy", async () => {
    const { queue, registry, pool } = setup();
    let calls = 0;
    registry.register('bad', 'Test.bad', () => {
      calls++;
      throw new Error('no');
    }, { retries: { attempts: 5, backoff: 'fixed', delayMs: 1 } });
    pool.start();
    queue.pushTask({ type: 'bad', maxRetries: 1 });
    await queue.onIdle();
    expect(calls).toBe(2);
    await pool.stop();
  });

  it('waits exponentially longer between tries', async () => {
    jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
    const { queue, registry, pool, events } = setup();
    const startedAt: number[] = [];
    registry.register('exp', 'Test.exp', () => {
      startedAt.push(Date.now());
      throw new Error('x');
    }, { retries: { attempts: 4, backoff: 'exponential', delayMs: 100 } });
    pool.start();
    queue.pushTask({ type: 'exp' });
    await jest.advanceTimersByTimeAsync(1000);
    const t0 = startedAt[0];
    expect(startedAt.map((t) => t - t0)).toEqual([0, 100, 300, 700]);
    expect(events.filter((e) => e.kind === 'retrying').map((e) => e.retryAt!.getTime() - t0)).toEqual([100, 300, 700]);
    expect(events.at(-1)?.kind).toBe('dead');
    const stopped = pool.stop();
    await jest.advanceTimersByTimeAsync(0);
    await stopped;
  });

  it('aborts the signal of a task that times out and counts it as a failure', async () => {
    const { queue, registry, pool } = setup();
    let signal: AbortSignal | undefined;
    registry.register('slow', 'Test.slow', (_p, ctx: TaskContext) => {
      signal = ctx.signal;
      return new Promise(() => undefined);
    }, { timeoutMs: 20 });
    pool.start();
    const id = queue.pushTask({ type: 'slow' });
    await queue.onIdle();
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBeInstanceOf(TaskTimeoutError);
    expect(queue.getTask(id)).toMatchObject({ status: 'dead', error: 'handler timed out after 20 ms' });
    await pool.stop();
  });

  it('dead-letters a task whose type has no handler at once', async () => {
    const { queue, pool, events } = setup();
    pool.start();
    const id = queue.pushTask({ type: 'x' });
    await queue.onIdle();
    expect(queue.getTask(id)).toMatchObject({ status: 'dead', attempts: 1, error: new NoTaskHandlerError('x').message });
    expect(queue.getTask(id).error).toBe("no @TaskHandler for type 'x'");
    expect(events.map((e) => e.kind)).toEqual(['queued', 'started', 'dead']);
    await pool.stop();
  });

  it('graceful stop waits for an in-flight task and takes no new one', async () => {
    const { queue, registry, pool } = setup({ shutdownTimeoutMs: 5000 });
    let release!: () => void;
    let finished = false;
    let signal: AbortSignal | undefined;
    registry.register('work', 'Test.work', async (_p, ctx: TaskContext) => {
      signal = ctx.signal;
      await new Promise<void>((r) => (release = r));
      finished = true;
    });
    pool.start();
    queue.pushTask({ taskId: 'first', type: 'work' });
    await waitFor(() => release !== undefined);
    queue.pushTask({ taskId: 'second', type: 'work' });
    let stopped = false;
    const stopping = pool.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(finished).toBe(true);
    expect(signal?.aborted).toBe(false);
    expect(queue.getTask('first').status).toBe('succeeded');
    expect(queue.getTask('second').status).toBe('pending');
  });

  it('aborts the signal of a task still running past shutdownTimeoutMs and releases it without using an attempt', async () => {
    const { queue, registry, pool } = setup({ shutdownTimeoutMs: 50 });
    let signal: AbortSignal | undefined;
    registry.register('stuck', 'Test.stuck', (_p, ctx: TaskContext) => {
      signal = ctx.signal;
      return new Promise(() => undefined);
    });
    pool.start();
    queue.pushTask({ taskId: 'stuck-1', type: 'stuck' });
    await waitFor(() => signal !== undefined);
    const began = Date.now();
    await pool.stop();
    expect(Date.now() - began).toBeGreaterThanOrEqual(45);
    expect(signal?.aborted).toBe(true);
    // a handler calling signal.throwIfAborted() can tell shutdown apart by class, as it can a timeout or a cancel
    expect(signal?.reason).toBeInstanceOf(TaskShutdownError);
    expect(signal?.reason).toBeInstanceOf(QueueSchedulerError);
    expect(signal?.reason).toMatchObject({ kind: 'shutdown', name: 'TaskShutdownError', taskId: 'stuck-1' });
    expect(queue.getTask('stuck-1')).toMatchObject({ status: 'pending', attempts: 0 });
  });
});
