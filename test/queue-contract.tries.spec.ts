import { Injectable } from '@nestjs/common';
import { MAX_ERROR_STACK_CHARS, MAX_TRIES_KEPT, MemoryQueueService, type TaskContext, TaskHandler, TaskQueue, type TaskRecord } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { BACKENDS, useBackendApp } from './support/backend-app';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

/** Named so the stacks can be recognised: each handler throws from a function of its own. */
function throwFromFlaky(attempt: number): never {
  throw new Error(`flaky failure ${attempt}`);
}

function throwFromBroken(): never {
  throw new TypeError('broken for good');
}

@Injectable()
class TryHandlers {
  flipFails = true;
  open!: () => void;
  gate = new Promise<void>((resolve) => (this.open = resolve));

  @TaskHandler('flaky', { retries: { attempts: 3, backoff: 'fixed', delayMs: 20 } })
  flaky(_params: unknown, ctx: TaskContext): string {
    if (ctx.attempt < 3) throwFromFlaky(ctx.attempt);
    return 'third time lucky';
  }

  @TaskHandler('broken', { retries: { attempts: 2, backoff: 'fixed', delayMs: 20 } })
  broken(): void {
    throwFromBroken();
  }

  readonly doomedRuns = new Map<string, number>();

  @TaskHandler('doomed')
  doomed(_params: unknown, ctx: TaskContext): never {
    this.doomedRuns.set(ctx.taskId, (this.doomedRuns.get(ctx.taskId) ?? 0) + 1);
    throw new Error('doomed');
  }

  @TaskHandler('huge-stack')
  hugeStack(): void {
    const err = new Error('deep');
    err.stack = `Error: deep\n${'    at somewhere (file.js:1:1)\n'.repeat(2000)}`;
    throw err;
  }

  @TaskHandler('slow', { timeoutMs: 50 })
  async slow(_params: unknown, ctx: TaskContext): Promise<void> {
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
  }

  stubbornRunning = 0;
  stubbornMax = 0;
  readonly stubbornSpans: Array<[number, number]> = [];

  @TaskHandler('stubborn', { concurrency: 1, timeoutMs: 100, retries: { attempts: 2, backoff: 'fixed', delayMs: 10 } })
  async stubborn(_params: unknown, ctx: TaskContext): Promise<void> {
    const start = Date.now();
    this.stubbornMax = Math.max(this.stubbornMax, ++this.stubbornRunning);
    // sees its signal abort, and still runs on for a while: a handler deep in a call that takes no signal
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    await new Promise((resolve) => setTimeout(resolve, 300));
    this.stubbornRunning--;
    this.stubbornSpans.push([start, Date.now()]);
  }

  readonly secondTries = new Set<string>();

  /** Fails its first try; its second runs until its signal aborts (a cancel). */
  @TaskHandler('fail-then-hold', { retries: { attempts: 2, backoff: 'fixed', delayMs: 20 } })
  async failThenHold(_params: unknown, ctx: TaskContext): Promise<void> {
    if (ctx.attempt === 1) throw new Error('not this time');
    this.secondTries.add(ctx.taskId);
    await new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  }

  @TaskHandler('fail-then-later', { retries: { attempts: 2, backoff: 'fixed', delayMs: 60_000 } })
  failThenLater(): void {
    throw new Error('not this time');
  }

  @TaskHandler('flip')
  flip(): string {
    if (this.flipFails) throw new Error('flip failed');
    return 'flipped';
  }

  @TaskHandler('held')
  async held(): Promise<void> {
    await this.gate;
  }

  @TaskHandler('hopeless', { retries: { attempts: MAX_TRIES_KEPT + 3, backoff: 'fixed', delayMs: 1 } })
  hopeless(_params: unknown, ctx: TaskContext): void {
    throw new Error(`hopeless ${ctx.attempt}`);
  }

  @TaskHandler('echo')
  echo(): string {
    return 'ok';
  }

  readonly lateFailures: number[] = [];

  @TaskHandler('late-retry', { retries: { attempts: 2, backoff: 'fixed', delayMs: 1500 } })
  lateRetry(_params: unknown, ctx: TaskContext): void {
    if (ctx.attempt === 1) {
      this.lateFailures.push(Date.now());
      throw new Error('again later');
    }
  }
}

describe.each(BACKENDS)('tries and stacks on %s', (backend) => {
  const backendApp = useBackendApp(backend);

  async function boot() {
    const app = await backendApp.boot({ queue: { pollIntervalMs: 50 } }, [TryHandlers]);
    return { app, queue: app.get(TaskQueue), handlers: app.get(TryHandlers) };
  }

  async function settled(queue: TaskQueue, id: string, status: TaskRecord['status']): Promise<TaskRecord> {
    await waitFor(async () => (await queue.getTask(id)).status === status, `task ${id} to be ${status}`);
    return queue.getTask(id);
  }

  // Task.runAt is "push time + delay, or the retry time": Redis read the job's first delay back, not the retry's
  it('shows the retry time as runAt while a failed task waits for its next try', async () => {
    const { queue, handlers } = await boot();
    const id = await queue.pushTask({ type: 'late-retry' });
    const waiting = await settled(queue, id, 'failed');
    const failedAt = handlers.lateFailures[0];
    expect(waiting.runAt.getTime()).toBeGreaterThanOrEqual(failedAt + 1500 - 5);
    expect(waiting.runAt.getTime()).toBeLessThanOrEqual(Date.now() + 1500);
    expect((await queue.listTasks({ type: 'late-retry' })).items[0].runAt).toEqual(waiting.runAt);
    await settled(queue, id, 'succeeded');
  });

  it('lists a task failing twice then succeeding as three tries in order, the failures with their errors and stacks', async () => {
    const { queue } = await boot();
    const id = await queue.pushTask({ type: 'flaky' });
    const record = await settled(queue, id, 'succeeded');
    // the task's own error is its last failure's, kept after the success as on every backend
    expect(record.error).toBe('flaky failure 2');
    expect(record.errorStack).toMatch(/^Error: flaky failure 2\n/);
    const tries = record.tries!;
    expect(tries.map((t) => [t.attempt, t.outcome, t.error])).toEqual([
      [1, 'failed', 'flaky failure 1'],
      [2, 'failed', 'flaky failure 2'],
      [3, 'succeeded', undefined],
    ]);
    for (const t of tries.slice(0, 2)) {
      expect(t.errorStack).toMatch(new RegExp(`^Error: flaky failure ${t.attempt}\\n`));
      expect(t.errorStack).toContain('throwFromFlaky');
      expect(typeof t.instance).toBe('string');
    }
    expect(tries[2].errorStack).toBeUndefined();
    for (let i = 0; i < tries.length; i++) {
      expect(tries[i].startedAt!.getTime()).toBeLessThanOrEqual(tries[i].finishedAt!.getTime());
      if (i > 0) expect(tries[i - 1].finishedAt!.getTime()).toBeLessThanOrEqual(tries[i].startedAt!.getTime());
    }
    expect(tries[2].startedAt).toEqual(record.startedAt);
    expect(tries[2].finishedAt).toEqual(record.completedAt);
    // a page stays small: stacks of the task itself, but no timeline
    const { items } = await queue.listTasks({ type: 'flaky' });
    expect(items[0].tries).toBeUndefined();
  });

  it("shows a dead task's error with its stack, and each failed try's own", async () => {
    const { queue } = await boot();
    const id = await queue.pushTask({ type: 'broken' });
    const record = await settled(queue, id, 'dead');
    expect(record.error).toBe('broken for good');
    expect(record.errorStack).toMatch(/^TypeError: broken for good\n/);
    expect(record.errorStack).toContain('throwFromBroken');
    expect(record.tries!.map((t) => [t.attempt, t.outcome, t.error])).toEqual([
      [1, 'failed', 'broken for good'],
      [2, 'failed', 'broken for good'],
    ]);
    expect(record.tries![1].errorStack).toBe(record.errorStack);
    const { items } = await queue.listTasks({ status: 'dead' });
    expect(items.find((t) => t.taskId === id)!.errorStack).toBe(record.errorStack);
  });

  it('keeps at most MAX_ERROR_STACK_CHARS of a stack, cut with a marker, and tells a timeout from a failure', async () => {
    const { queue } = await boot();
    const huge = await settled(queue, await queue.pushTask({ type: 'huge-stack' }), 'dead');
    expect(huge.errorStack!.length).toBeLessThanOrEqual(MAX_ERROR_STACK_CHARS);
    expect(huge.errorStack).toMatch(/^Error: deep\n/);
    expect(huge.errorStack).toMatch(/stack cut at MAX_ERROR_STACK_CHARS\)$/);
    const slow = await settled(queue, await queue.pushTask({ type: 'slow' }), 'dead');
    expect(slow.tries!.map((t) => t.outcome)).toEqual(['timed_out']);
    expect(slow.errorStack).toMatch(/^TaskTimeoutError/);
  });

  it("keeps a handler's concurrency while a timed-out try runs on: the next try starts once its handler returned", async () => {
    const { queue, handlers } = await boot();
    const ids = [await queue.pushTask({ type: 'stubborn' }), await queue.pushTask({ type: 'stubborn' })];
    for (const id of ids) {
      const record = await settled(queue, id, 'dead');
      expect(record.tries!.map((t) => t.outcome)).toEqual(['timed_out', 'timed_out']);
    }
    // a timeout freed the slot at once: the other task, or this one's retry, ran beside the try it had ended
    // the last try ended at its timeout; its handler returns a little later
    await waitFor(() => handlers.stubbornSpans.length === 4, 'the last stubborn handler to return');
    expect(handlers.stubbornMax).toBe(1);
    const spans = [...handlers.stubbornSpans].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
  });

  it('keeps the tries of a cancelled task: its failures, and the try the cancel ended', async () => {
    const { queue, handlers } = await boot();
    const running = await queue.pushTask({ type: 'fail-then-hold' });
    await waitFor(() => handlers.secondTries.has(running), 'the second try to start');
    expect(await queue.cancelTask(running)).toBe(true);
    const ended = await settled(queue, running, 'cancelled');
    expect(ended.tries!.map((t) => [t.attempt, t.outcome, t.error])).toEqual([
      [1, 'failed', 'not this time'],
      [2, 'cancelled', undefined],
    ]);
    expect(ended.tries![0].errorStack).toMatch(/^Error: not this time\n/);
    const waiting = await queue.pushTask({ type: 'fail-then-later' });
    await settled(queue, waiting, 'failed');
    expect(await queue.cancelTask(waiting)).toBe(true);
    const cancelled = await settled(queue, waiting, 'cancelled');
    expect(cancelled.tries!.map((t) => [t.attempt, t.outcome, t.error])).toEqual([[1, 'failed', 'not this time']]);
    expect([ended.error, cancelled.error]).toEqual(['not this time', 'not this time']);
    // a page leaves the timelines out, as for every other task
    const { items } = await queue.listTasks({ status: 'cancelled' });
    expect(items.map((t) => t.taskId).sort()).toEqual([running, waiting].sort());
    expect(items.map((t) => t.tries)).toEqual([undefined, undefined]);
  });

  it('keeps the last MAX_TRIES_KEPT ended tries, then the final one', async () => {
    const { queue } = await boot();
    const record = await settled(queue, await queue.pushTask({ type: 'hopeless' }), 'dead');
    const attempts = record.tries!.map((t) => t.attempt);
    expect(attempts).toEqual(Array.from({ length: MAX_TRIES_KEPT + 1 }, (_, i) => i + 3));
    expect(record.tries!.at(-1)!.error).toBe(`hopeless ${MAX_TRIES_KEPT + 3}`);
  });

  it('keeps every try of a dead task retried twice at once: each retry accepted runs it once, the other is refused', async () => {
    const { queue, handlers } = await boot();
    for (let round = 0; round < 10; round++) {
      const id = await queue.pushTask({ type: 'doomed', maxRetries: 0 });
      await settled(queue, id, 'dead');
      // on Redis the second retry wrote the tries back from the job it read first, without the try the first one ran
      const outcomes = await Promise.allSettled([queue.retryTask(id), new Promise((resolve) => setTimeout(resolve, round % 3)).then(() => queue.retryTask(id))]);
      for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ name: 'InvalidArgumentError', field: 'taskId' });
      const accepted = outcomes.filter((o) => o.status === 'fulfilled').length;
      expect(accepted).toBeGreaterThanOrEqual(1);
      await waitFor(async () => handlers.doomedRuns.get(id) === 1 + accepted && (await queue.getTask(id)).status === 'dead', `the ${accepted} accepted retries of ${id} to run`);
      const record = await queue.getTask(id);
      expect(record.tries!.map((t) => t.outcome)).toEqual(Array.from({ length: 1 + accepted }, () => 'failed'));
    }
  });

  it('keeps the tries of a dead task retried by hand, and counts the new ones from 1', async () => {
    const { queue, handlers } = await boot();
    const id = await queue.pushTask({ type: 'flip' });
    await settled(queue, id, 'dead');
    handlers.flipFails = false;
    await queue.retryTask(id);
    const record = await settled(queue, id, 'succeeded');
    expect(record.tries!.map((t) => [t.attempt, t.outcome, t.error])).toEqual([
      [1, 'failed', 'flip failed'],
      [1, 'succeeded', undefined],
    ]);
    expect(record.tries![0].errorStack).toMatch(/^Error: flip failed\n/);
  });

  it('reports a running try with the instance running it, and busy workers per instance', async () => {
    const { queue, handlers } = await boot();
    const id = await queue.pushTask({ type: 'held' });
    await settled(queue, id, 'running');
    const loads = await queue.runningByInstance();
    const self = loads.find((l) => l.self)!;
    expect(self.running).toBe(1);
    expect(loads.filter((l) => l.self)).toHaveLength(1);
    const [running] = (await queue.getTask(id)).tries!;
    expect(running).toMatchObject({ attempt: 1, outcome: 'running', instance: self.instance });
    expect(running.finishedAt).toBeUndefined();
    handlers.open();
    await settled(queue, id, 'succeeded');
    expect((await queue.runningByInstance()).find((l) => l.self)!.running).toBe(0);
  });

  if (backend === 'memory') {
    it('stores no history for a first try that succeeds: the try is read from the task itself', async () => {
      const { app, queue } = await boot();
      const id = await queue.pushTask({ type: 'echo' });
      const record = await settled(queue, id, 'succeeded');
      expect(record.tries).toEqual([{ attempt: 1, startedAt: record.startedAt, finishedAt: record.completedAt, outcome: 'succeeded' }]);
      const entry = (app.get(MemoryQueueService) as unknown as { tasks: { get(id: string): { failures: unknown } } }).tasks.get(id);
      expect(entry.failures).toBeUndefined();
    });
  }

  if (backend !== 'memory' && backend !== 'redis') {
    it('stores nothing in the tries column for a first try that succeeds, and a lost try with the instance that held it', async () => {
      const { app, queue, handlers } = await boot();
      const ds = app.get(DataSource);
      const ok = await settled(queue, await queue.pushTask({ type: 'echo' }), 'succeeded');
      const [row] = await ds.query(`SELECT tries, error_stack FROM task_queue WHERE task_id = '${ok.taskId}'`);
      expect(row.tries).toBeNull();
      expect(row.error_stack).toBeNull();
      // a try whose lease ran out (its worker stalled): the sweep queues it again and stores it as lost
      const id = await queue.pushTask({ type: 'held' });
      await settled(queue, id, 'running');
      const owner = (await queue.runningByInstance()).find((l) => l.self)!.instance;
      await ds.query(`UPDATE task_queue SET lease_expires_at = 1 WHERE task_id = '${id}'`);
      await (queue as unknown as { sqlConsumer: { sweep(): Promise<unknown> } }).sqlConsumer.sweep();
      handlers.open();
      const record = await settled(queue, id, 'succeeded');
      expect(record.tries!.map((t) => [t.attempt, t.outcome, t.instance])).toEqual([
        [1, 'lost', owner],
        [2, 'succeeded', undefined],
      ]);
      expect(record.tries![0].finishedAt).toEqual(new Date(1));
    });
  }
});
