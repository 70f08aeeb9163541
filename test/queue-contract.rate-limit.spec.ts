import { Injectable, type Provider } from '@nestjs/common';
import { InvalidTaskHandlerError, QueueSchedulerModule, RateLimitedError, type QueueSchedulerModuleOptions, type TaskContext, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { BACKENDS, useBackendApp } from './support/backend-app';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

const MAX = 5;
const PER_MS = 400;
const TASKS = 18;

@Injectable()
class LimitedHandlers {
  readonly starts: number[] = [];
  readonly quickIds: string[] = [];

  @TaskHandler('limited', { rateLimit: { max: MAX, perMs: PER_MS } })
  limited(): void {
    this.starts.push(Date.now());
  }

  readonly backoffStarts: number[] = [];

  /** The default retry policy (one attempt): a back-off that used an attempt would leave it dead. */
  @TaskHandler('backoff')
  backoff(): string {
    this.backoffStarts.push(Date.now());
    if (this.backoffStarts.length === 1) throw new RateLimitedError(300);
    return 'after the back-off';
  }

  readonly laterStarts: number[] = [];

  @TaskHandler('backoff-later')
  backoffLater(): void {
    this.laterStarts.push(Date.now());
    if (this.laterStarts.length === 1) throw new RateLimitedError(1500);
  }

  @TaskHandler('unlimited')
  unlimited(_params: unknown, ctx: TaskContext): void {
    this.quickIds.push(ctx.taskId);
  }
}

/** Starts per aligned window, as the library counts them. */
function perWindow(starts: number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const at of starts) counts.set(Math.floor(at / PER_MS), (counts.get(Math.floor(at / PER_MS)) ?? 0) + 1);
  return counts;
}

describe.each(BACKENDS)('@TaskHandler rateLimit on %s', (backend) => {
  const backendApp = useBackendApp(backend);

  async function boot(options: QueueSchedulerModuleOptions = {}, providers: unknown[] = [LimitedHandlers]) {
    const queue = { pollIntervalMs: 100, ...options.queue };
    const app = await backendApp.boot({ ...options, queue }, providers as Provider[]);
    return { queue: app.get(TaskQueue), handlers: app.get(LimitedHandlers) };
  }

  it(`starts at most ${MAX} tasks of the type per ${PER_MS} ms window; the rest wait and all run, other types unhindered`, async () => {
    const { queue, handlers } = await boot({ workers: { concurrency: 20 } });
    const ids = await queue.pushTasks(Array.from({ length: TASKS }, () => ({ type: 'limited' })));
    const others = await queue.pushTasks(Array.from({ length: 10 }, () => ({ type: 'unlimited' })));
    await waitFor(async () => (await queue.countByStatus()).succeeded === TASKS + others.length, 'every task to run', 20_000);
    expect(handlers.starts).toHaveLength(TASKS);
    // counted at each try's recorded start (the claim that took the permit), not at the handler's first line: on a
    // loaded machine the event loop can hold a claimed task past the window's end, which says nothing of the limit
    const started = await Promise.all(ids.map(async (id) => (await queue.getTask(id)).startedAt!.getTime()));
    const counts = [...perWindow(started).values()];
    console.log(`${backend}: starts per ${PER_MS} ms window: ${counts.join(', ')} (handler's first line: ${[...perWindow(handlers.starts).values()].join(', ')})`);
    // the tolerance of one
    expect(Math.max(...counts)).toBeLessThanOrEqual(MAX + 1);
    // the limit is what it waits for, not a slow pickup: the windows it spans are about TASKS / MAX
    expect(counts.length).toBeGreaterThanOrEqual(Math.ceil(TASKS / MAX));
    expect(counts.length).toBeLessThanOrEqual(Math.ceil(TASKS / MAX) + 2);
    expect(handlers.quickIds.sort()).toEqual([...others].sort());
    for (const id of ids) expect((await queue.getTask(id)).attempts).toBe(1);
  });

  it('puts a task back without using an attempt when its handler throws RateLimitedError, not before retryAfterMs', async () => {
    const { queue, handlers } = await boot();
    const id = await queue.pushTask({ type: 'backoff' });
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'the task to succeed after its back-off', 10_000);
    const record = await queue.getTask(id);
    expect(record).toMatchObject({ status: 'succeeded', attempts: 1, result: 'after the back-off' });
    expect(handlers.backoffStarts).toHaveLength(2);
    expect(handlers.backoffStarts[1] - handlers.backoffStarts[0]).toBeGreaterThanOrEqual(300 - 5);
    expect(() => new RateLimitedError(-1)).toThrow('retryAfterMs');
  });

  it('shows the time it starts again as runAt while a task backs off, with no attempt used', async () => {
    const { queue, handlers } = await boot();
    const id = await queue.pushTask({ type: 'backoff-later' });
    await waitFor(async () => handlers.laterStarts.length === 1 && (await queue.getTask(id)).status === 'pending', 'the task to be put back');
    const backingOff = await queue.getTask(id);
    expect(backingOff.attempts).toBe(0);
    expect(backingOff.runAt.getTime()).toBeGreaterThanOrEqual(handlers.laterStarts[0] + 1500 - 5);
    expect(backingOff.runAt.getTime()).toBeLessThanOrEqual(Date.now() + 1500);
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'the task to run again', 10_000);
    expect(handlers.laterStarts[1]).toBeGreaterThanOrEqual(backingOff.runAt.getTime() - 5);
  });

  it.each([
    ['max 0', { max: 0, perMs: 1000 }, 'rateLimit.max'],
    ['a fractional max', { max: 2.5, perMs: 1000 }, 'rateLimit.max'],
    ['perMs as text', { max: 5, perMs: '1000' }, 'rateLimit.perMs'],
    ['perMs below 10', { max: 5, perMs: 1 }, 'rateLimit.perMs'],
  ])('refuses %s at start-up with InvalidTaskHandlerError naming the field', async (_what, rateLimit, field) => {
    @Injectable()
    class BadLimit {
      @TaskHandler('bad_limit', { rateLimit: rateLimit as never })
      run(): void {}
    }
    const error = await boot({}, [BadLimit]).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTaskHandlerError);
    expect((error as Error).message).toContain(field);
    expect((error as Error).message).toContain('BadLimit.run');
  });
});
