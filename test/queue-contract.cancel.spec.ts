import { Injectable } from '@nestjs/common';
import { QueueSchedulerModule, type QueueSchedulerModuleOptions, TaskCancelledError, type TaskContext, type TaskEvent, TaskHandler, TaskQueue, TaskTimeoutError } from 'nestjs-queue-scheduler';
import { BACKENDS, useBackendApp } from './support/backend-app';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

const POLL_MS = 200;
/** What the issue allows from cancelTask to the handler's abort: one poll plus 200 ms on a database, 200 ms on Redis. */
const ALLOWED_MS: Record<string, number> = { memory: 50, redis: 200 };
const retries = { attempts: 3, backoff: 'fixed' as const, delayMs: 10 };

@Injectable()
class CancelHandlers {
  readonly started = new Map<string, number>();
  readonly aborted = new Map<string, { at: number; reason: unknown }>();
  openIgnoring!: () => void;
  ignoringGate = new Promise<void>((resolve) => (this.openIgnoring = resolve));

  /** Gives up as soon as its signal aborts, as a well-behaved handler does. */
  @TaskHandler('cooperative', { retries })
  cooperative(_params: unknown, ctx: TaskContext): Promise<void> {
    this.started.set(ctx.taskId, (this.started.get(ctx.taskId) ?? 0) + 1);
    return new Promise((_resolve, reject) => {
      ctx.signal.addEventListener('abort', () => {
        this.aborted.set(ctx.taskId, { at: Date.now(), reason: ctx.signal.reason });
        reject(ctx.signal.reason);
      });
    });
  }

  /** Never looks at its signal and returns a result anyway. */
  @TaskHandler('ignoring', { retries })
  async ignoring(_params: unknown, ctx: TaskContext): Promise<string> {
    this.started.set(ctx.taskId, (this.started.get(ctx.taskId) ?? 0) + 1);
    await this.ignoringGate;
    return 'a result nobody wants';
  }

  /** Waits for its signal like `cooperative`, under a timeout. */
  @TaskHandler('times-out', { timeoutMs: 100, retries: { attempts: 1 } })
  timesOut(params: unknown, ctx: TaskContext): Promise<void> {
    return this.cooperative(params, ctx);
  }

  @TaskHandler('quick')
  quick(): string {
    return 'done';
  }
}

describe.each(BACKENDS)('cancelTask of a running task on %s', (backend) => {
  const backendApp = useBackendApp(backend);

  async function boot(options: QueueSchedulerModuleOptions = {}) {
    const queue = { pollIntervalMs: POLL_MS, ...options.queue };
    const app = await backendApp.boot({ ...options, queue }, [CancelHandlers]);
    const events: TaskEvent[] = [];
    app.get(TaskQueue).events$.subscribe((e) => events.push(e));
    return { queue: app.get(TaskQueue), handlers: app.get(CancelHandlers), events };
  }

  it("aborts the handler's signal with a TaskCancelledError (kind 'cancelled'); the task ends cancelled and is never retried", async () => {
    const { queue, handlers, events } = await boot();
    const id = await queue.pushTask({ type: 'cooperative' });
    await waitFor(() => handlers.started.has(id), 'the task to start');
    const asked = Date.now();
    expect(await queue.cancelTask(id)).toBe(true);
    await waitFor(() => handlers.aborted.has(id), 'the handler to see the abort');
    const { at, reason } = handlers.aborted.get(id)!;
    console.log(`${backend}: signal aborted ${at - asked} ms after cancelTask`);
    expect(at - asked).toBeLessThanOrEqual(ALLOWED_MS[backend] ?? POLL_MS + 200);
    expect(reason).toBeInstanceOf(TaskCancelledError);
    expect((reason as TaskCancelledError).kind).toBe('cancelled');
    await waitFor(async () => (await queue.getTask(id)).status === 'cancelled', 'the task to end cancelled');
    // a later task of the same worker runs: the cancel freed its slot and retried nothing
    const after = await queue.pushTask({ type: 'quick' });
    await waitFor(async () => (await queue.getTask(after)).status === 'succeeded', 'a later task to run');
    const record = await queue.getTask(id);
    expect(record).toMatchObject({ status: 'cancelled', attempts: 1 });
    expect(handlers.started.get(id)).toBe(1);
    await waitFor(() => events.some((e) => e.taskId === id && e.kind === 'cancelled'), 'the cancelled event');
    expect(events.filter((e) => e.taskId === id).map((e) => e.kind)).toEqual(['queued', 'started', 'cancelled']);
  });

  it("aborts the signal of a handler past its timeoutMs with a TaskTimeoutError (kind 'timeout'), told apart from a cancel by its kind", async () => {
    const { queue, handlers } = await boot();
    const id = await queue.pushTask({ type: 'times-out' });
    await waitFor(() => handlers.aborted.has(id), 'the handler to see the abort');
    const { reason } = handlers.aborted.get(id)!;
    expect(reason).toBeInstanceOf(TaskTimeoutError);
    expect(reason).toMatchObject({ kind: 'timeout', timeoutMs: 100, taskId: id });
    await waitFor(async () => (await queue.getTask(id)).status === 'dead', 'the task to die of its timeout');
    expect((await queue.getTask(id)).error).toBe('handler timed out after 100 ms');
  });

  it('records a handler that ignores the signal as cancelled when it returns, and drops its result', async () => {
    const { queue, handlers } = await boot();
    const id = await queue.pushTask({ type: 'ignoring' });
    await waitFor(() => handlers.started.has(id), 'the task to start');
    expect(await queue.cancelTask(id)).toBe(true);
    // it keeps running until it returns: the cancel does not end a try behind its handler's back
    expect((await queue.getTask(id)).status).toBe('running');
    await new Promise((resolve) => setTimeout(resolve, (ALLOWED_MS[backend] ?? POLL_MS + 200) + 50));
    handlers.openIgnoring();
    await waitFor(async () => (await queue.getTask(id)).status === 'cancelled', 'the task to end cancelled');
    const record = await queue.getTask(id);
    expect(record.result).toBeUndefined();
    expect(handlers.started.get(id)).toBe(1);
  });

  it('with { running: false } leaves a running task alone (what a schedule change uses)', async () => {
    const { queue, handlers } = await boot();
    const id = await queue.pushTask({ type: 'cooperative' });
    await waitFor(() => handlers.started.has(id), 'the task to start');
    expect(await queue.cancelTask(id, { running: false })).toBe(false);
    const probe = await queue.pushTask({ type: 'quick' });
    await waitFor(async () => (await queue.getTask(probe)).status === 'succeeded', 'a later task to run');
    expect(handlers.aborted.has(id)).toBe(false);
    expect((await queue.getTask(id)).status).toBe('running');
    // ended here, or the app's close waits its whole shutdownTimeoutMs (10 s) for this handler
    expect(await queue.cancelTask(id)).toBe(true);
    await waitFor(async () => (await queue.getTask(id)).status === 'cancelled', 'the task to end cancelled');
  });

  it('answers false for a finished task and leaves it as it was', async () => {
    const { queue } = await boot();
    const id = await queue.pushTask({ type: 'quick' });
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'the task to succeed');
    expect(await queue.cancelTask(id)).toBe(false);
    expect((await queue.getTask(id)).status).toBe('succeeded');
  });
});
