import { Injectable } from '@nestjs/common';
import {
  InvalidProgressError,
  MAX_PROGRESS_BYTES,
  QueueSchedulerModule,
  type QueueSchedulerModuleOptions,
  type TaskContext,
  type TaskEvent,
  TaskHandler,
  TaskQueue,
} from 'nestjs-queue-scheduler';
import { BACKENDS, useBackendApp } from './support/backend-app';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

const INTERVAL_MS = 200;

let deep: Record<string, unknown> = { leaf: 1 };
for (let i = 0; i < 40; i++) deep = { deep };
const BAD_VALUES: Array<[string, unknown]> = [
  ['above 100', 150],
  ['below 0', -1],
  ['NaN', NaN],
  ['a string', 'half'],
  ['an array', [1, 2]],
  ['null', null],
  ['a Date', new Date()],
  ['too deep', deep],
  ['too large', { text: 'x'.repeat(MAX_PROGRESS_BYTES) }],
  ['a BigInt inside', { n: 1n }],
];

@Injectable()
class ProgressHandlers {
  /** Opened by the test: the `report` handler waits on it after its burst. */
  open!: () => void;
  gate = new Promise<void>((resolve) => (this.open = resolve));
  refused: Array<{ what: string; error: unknown }> = [];
  /** Date.now() just before the burst's first report: its window starts there. */
  burstStartedAt = NaN;

  @TaskHandler('report')
  async report(params: { burst: number }, ctx: TaskContext): Promise<string> {
    this.burstStartedAt = Date.now();
    // a tight loop: the library must turn it into at most one write per window
    for (let i = 0; i < params.burst; i++) ctx.progress(i % 100);
    await this.gate;
    ctx.progress({ stage: 'done', files: 3 });
    return 'reported';
  }

  @TaskHandler('zero')
  zero(_params: unknown, ctx: TaskContext): void {
    ctx.progress(0);
  }

  @TaskHandler('report-then-wait')
  async reportThenWait(_params: unknown, ctx: TaskContext): Promise<void> {
    ctx.progress(42);
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
  }

  @TaskHandler('report-then-fail', { retries: { attempts: 3, backoff: 'fixed', delayMs: 60_000 } })
  reportThenFail(_params: unknown, ctx: TaskContext): void {
    ctx.progress(44);
    throw new Error('try again later');
  }

  @TaskHandler('bad-progress')
  bad(_params: unknown, ctx: TaskContext): string {
    for (const [what, value] of BAD_VALUES) {
      try {
        ctx.progress(value as number);
        this.refused.push({ what, error: undefined });
      } catch (error) {
        this.refused.push({ what, error });
      }
    }
    return 'still fine';
  }
}

describe.each(BACKENDS)('ctx.progress() on %s', (backend) => {
  const backendApp = useBackendApp(backend);

  async function boot(options: QueueSchedulerModuleOptions = {}) {
    const queue = { progressIntervalMs: INTERVAL_MS, pollIntervalMs: 100, ...options.queue };
    const app = await backendApp.boot({ ...options, queue }, [ProgressHandlers]);
    const events: TaskEvent[] = [];
    app.get(TaskQueue).events$.subscribe((e) => events.push(e));
    return { queue: app.get(TaskQueue), handlers: app.get(ProgressHandlers), events };
  }

  it('stores the reports on the task, one write per window for a tight loop, and the last one before the outcome', async () => {
    const { queue, handlers, events } = await boot();
    const id = await queue.pushTask({ type: 'report', params: { burst: 10_000 } });
    const progressOf = () => events.filter((e) => e.taskId === id && e.kind === 'progress');
    // the first report of the burst is written at once, the last one when its window closes
    // the event follows the write (another connection may read the write first)
    await waitFor(() => progressOf().some((e) => e.progress === 99), "the burst's last report written");
    expect((await queue.getTask(id)).progress).toBe(99);
    const burstEnd = progressOf().at(-1)!.at.getTime();
    expect(progressOf().map((e) => e.progress)).toEqual([0, 99]);
    // from the first call, not from the first write's event: that write's own latency (21 ms once on SQLite in CI)
    // would shorten the gap between the two events without the window being any shorter; 2 ms for a timer that
    // fires before Date.now() reaches its time
    expect(burstEnd - handlers.burstStartedAt).toBeGreaterThanOrEqual(INTERVAL_MS - 2);
    expect((await queue.getTask(id)).status).toBe('running');
    handlers.open();
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'the task to succeed');
    const record = await queue.getTask(id);
    expect(record.progress).toEqual({ stage: 'done', files: 3 });
    expect(record.result).toBe('reported');
    await waitFor(() => events.some((e) => e.taskId === id && e.kind === 'succeeded'), 'the succeeded event');
    const kinds = events.filter((e) => e.taskId === id).map((e) => e.kind);
    // the final report is written (and told) before the outcome
    expect(kinds.lastIndexOf('progress')).toBeLessThan(kinds.indexOf('succeeded'));
    expect(progressOf().at(-1)!.progress).toEqual({ stage: 'done', files: 3 });
    console.log(`${backend}: a burst of 10,000 ctx.progress() calls cost ${progressOf().length - 1} writes before the final report`);
  });

  it('keeps the last report when the task is cancelled, running or waiting for its retry', async () => {
    const { queue } = await boot();
    const running = await queue.pushTask({ type: 'report-then-wait' });
    const waiting = await queue.pushTask({ type: 'report-then-fail' });
    await waitFor(async () => (await queue.getTask(running)).progress === 42, 'the running report');
    await waitFor(async () => (await queue.getTask(waiting)).status === 'failed', 'the failed try');
    expect(await queue.cancelTask(running)).toBe(true);
    expect(await queue.cancelTask(waiting)).toBe(true);
    await waitFor(async () => (await queue.getTask(running)).status === 'cancelled', 'the running task cancelled');
    expect((await queue.getTask(running)).progress).toBe(42);
    expect(await queue.getTask(waiting)).toMatchObject({ status: 'cancelled', progress: 44 });
  });

  it('reads back a report of 0 as 0, not as "no progress"', async () => {
    const { queue } = await boot();
    const id = await queue.pushTask({ type: 'zero' });
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'the task to succeed');
    expect((await queue.getTask(id)).progress).toBe(0);
    const untouched = await queue.pushTask({ type: 'report', params: { burst: 0 }, delayMs: 60_000 });
    expect((await queue.getTask(untouched)).progress).toBeUndefined();
  });

  it('refuses a value that is not a percentage or a small JSON object with a typed error, and the try goes on', async () => {
    const { queue, handlers, events } = await boot();
    const id = await queue.pushTask({ type: 'bad-progress' });
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'the task to succeed');
    const record = await queue.getTask(id);
    expect(record.result).toBe('still fine');
    expect(record.progress).toBeUndefined();
    expect(events.filter((e) => e.taskId === id && e.kind === 'progress')).toEqual([]);
    expect(handlers.refused.map((r) => r.what)).toEqual(BAD_VALUES.map(([what]) => what));
    for (const { what, error } of handlers.refused) {
      expect({ what, isTyped: error instanceof InvalidProgressError }).toEqual({ what, isTyped: true });
      expect((error as InvalidProgressError).field).toMatch(/^progress/);
    }
    expect((handlers.refused[0].error as Error).message).toContain('150');
    expect((handlers.refused[3].error as Error).message).toContain('half');
  });
});
