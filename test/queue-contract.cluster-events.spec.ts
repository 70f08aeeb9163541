import { Injectable } from '@nestjs/common';
import {
  type ClusterTaskEvent,
  InvalidArgumentError,
  InvalidOptionsError,
  type QueueSchedulerModuleOptions,
  type TaskContext,
  TaskHandler,
  TaskNotFoundError,
  TaskQueue,
  TaskWaitTimeoutError,
} from 'nestjs-queue-scheduler';
import type { Subscription } from 'rxjs';
import { BACKENDS, useBackendApp } from './support/backend-app';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

@Injectable()
class EventHandlers {
  @TaskHandler('ok')
  ok(): string {
    return 'fine';
  }

  /** Fails its first try, succeeds on the second. */
  @TaskHandler('flaky', { retries: { attempts: 2, backoff: 'fixed', delayMs: 10 } })
  flaky(_params: unknown, ctx: TaskContext): void {
    if (ctx.attempt === 1) throw new Error('first try fails');
  }

  @TaskHandler('doomed')
  doomed(): never {
    throw new Error('always fails');
  }

  /** Fails; its retry waits ten minutes unless retried by hand. */
  @TaskHandler('slow-retry', { retries: { attempts: 2, backoff: 'fixed', delayMs: 600_000 } })
  slowRetry(): never {
    throw new Error('later');
  }

  /** Holds its task until the test opens the gate. */
  @TaskHandler('gated')
  async gated(): Promise<void> {
    await this.gate;
  }

  /** Runs until its signal aborts (a cancel). */
  @TaskHandler('cooperative')
  cooperative(_params: unknown, ctx: TaskContext): Promise<void> {
    return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  }

  open!: () => void;
  gate = new Promise<void>((resolve) => (this.open = resolve));
}

/** Collects a cluster stream's events. */
function collect(queue: TaskQueue, after?: string): { events: ClusterTaskEvent[]; sub: Subscription } {
  const events: ClusterTaskEvent[] = [];
  const sub = queue.clusterEvents$({ after }).subscribe((e) => events.push(e));
  return { events, sub };
}

describe.each(BACKENDS)('clusterEvents$ and onTaskFinished on %s', (backend) => {
  const backendApp = useBackendApp(backend);

  async function boot(options: QueueSchedulerModuleOptions = {}) {
    const app = await backendApp.boot({ ...options, queue: { pollIntervalMs: 50, clusterEvents: true, clusterEventsPollMs: 50, ...options.queue } }, [EventHandlers]);
    return { queue: app.get(TaskQueue), handlers: app.get(EventHandlers) };
  }

  /** A stream is live once it reports a task pushed after it started. */
  async function live(queue: TaskQueue, events: ClusterTaskEvent[]): Promise<void> {
    const probe = await queue.pushTask({ type: 'ok' });
    await waitFor(() => events.some((e) => e.taskId === probe && e.kind === 'succeeded'), 'the stream to report a probe task', 15_000);
  }

  const ended = (events: ClusterTaskEvent[], id: string): boolean => events.some((e) => e.taskId === id && (e.kind === 'succeeded' || e.kind === 'dead' || e.kind === 'cancelled'));

  it('reports every step of every task once (queued, started, outcome), in order per task, each with its own id', async () => {
    const { queue } = await boot();
    const { events, sub } = collect(queue);
    const other = collect(queue);
    await live(queue, events);
    const ok = await queue.pushTasks(Array.from({ length: 20 }, () => ({ type: 'ok' })));
    const flaky = await queue.pushTask({ type: 'flaky' });
    const doomed = await queue.pushTask({ type: 'doomed' });
    await waitFor(() => [...ok, flaky, doomed].every((id) => ended(events, id)), 'every outcome', 15_000);
    sub.unsubscribe();
    const kinds = (id: string): string[] => events.filter((e) => e.taskId === id).map((e) => e.kind);
    for (const id of ok) expect(kinds(id)).toEqual(['queued', 'started', 'succeeded']);
    expect(kinds(flaky)).toEqual(['queued', 'started', 'retrying', 'started', 'succeeded']);
    expect(kinds(doomed)).toEqual(['queued', 'started', 'dead']);
    const doomedEvent = events.find((e) => e.taskId === doomed && e.kind === 'dead')!;
    expect(doomedEvent).toMatchObject({ type: 'doomed', error: expect.stringContaining('always fails') });
    expect(events.find((e) => e.taskId === flaky && e.kind === 'retrying')).toMatchObject({ type: 'flaky', attempt: 1, error: expect.stringContaining('first try fails') });
    // Redis: BullMQ's own entries do not carry the attempt
    if (backend !== 'redis') expect(events.filter((e) => e.taskId === flaky && e.kind !== 'queued').map((e) => e.attempt)).toEqual([1, 1, 2, 2]);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    // the README's de-duplication key (Redis gives each subscriber its own ids): one per event, the same for every subscriber
    await waitFor(() => other.events.length === events.length, 'the second subscriber to catch up', 15_000);
    other.sub.unsubscribe();
    const keys = (list: ClusterTaskEvent[]): string[] => list.map((e) => `${e.taskId} ${e.kind} ${e.at.getTime()}`);
    expect(new Set(keys(events)).size).toBe(events.length);
    expect(keys(other.events).sort()).toEqual(keys(events).sort());
    // numbered on memory (after its log's token) and the databases, increasing in delivery order
    const numbers = events.map((e) => Number(backend === 'memory' ? e.id.slice(e.id.lastIndexOf('-') + 1) : e.id));
    if (backend !== 'redis') expect(numbers.every(Number.isSafeInteger) && numbers).toEqual([...numbers].sort((a, b) => a - b));
  });

  it('a subscriber that resumes with the last id it saw gets exactly what it missed, then the live ones', async () => {
    const { queue } = await boot();
    const first = collect(queue);
    await live(queue, first.events);
    const before = await queue.pushTasks(Array.from({ length: 3 }, () => ({ type: 'ok' })));
    await waitFor(() => before.every((id) => ended(first.events, id)), 'the first tasks');
    const lastSeen = first.events.at(-1)!.id;
    first.sub.unsubscribe();
    const missed = await queue.pushTasks(Array.from({ length: 7 }, () => ({ type: 'ok' })));
    await Promise.all(missed.map((id) => queue.onTaskFinished(id, { timeoutMs: 15_000 })));
    const resumed = collect(queue, lastSeen);
    await waitFor(() => missed.every((id) => ended(resumed.events, id)), 'the missed events', 15_000);
    const later = await queue.pushTask({ type: 'ok' });
    await waitFor(() => ended(resumed.events, later), 'a live event after the replay', 15_000);
    resumed.sub.unsubscribe();
    // the replay first (in the order they were recorded), then the live ones
    expect(resumed.events.at(-1)).toMatchObject({ taskId: later, kind: 'succeeded' });
    expect([...new Set(resumed.events.map((e) => e.taskId))].sort()).toEqual([...missed, later].sort());
    for (const id of [...missed, later]) expect(resumed.events.filter((e) => e.taskId === id).map((e) => e.kind)).toEqual(['queued', 'started', 'succeeded']);
  });

  it('each subscription to one resumed stream starts from its `after` (a second one, or a retry, replays the same)', async () => {
    // Redis shared one position between the subscriptions of a stream: a second subscription started where the first had got to
    const { queue } = await boot();
    const first = collect(queue);
    await live(queue, first.events);
    const lastSeen = first.events.at(-1)!.id;
    first.sub.unsubscribe();
    const missed = await queue.pushTasks(Array.from({ length: 3 }, () => ({ type: 'ok' })));
    await Promise.all(missed.map((id) => queue.onTaskFinished(id, { timeoutMs: 15_000 })));
    const stream = queue.clusterEvents$({ after: lastSeen });
    const subscribe = (): { events: ClusterTaskEvent[]; sub: Subscription } => {
      const events: ClusterTaskEvent[] = [];
      return { events, sub: stream.subscribe((e) => events.push(e)) };
    };
    const a = subscribe();
    await waitFor(() => missed.every((id) => ended(a.events, id)), 'the first subscription to replay', 15_000);
    const b = subscribe();
    await waitFor(() => missed.every((id) => ended(b.events, id)), 'the second subscription to replay the same', 15_000);
    a.sub.unsubscribe();
    b.sub.unsubscribe();
    const steps = (events: ClusterTaskEvent[]): string[] => events.filter((e) => missed.includes(e.taskId)).map((e) => `${e.taskId}:${e.kind}`);
    expect(steps(b.events)).toEqual(steps(a.events));
  });

  it('onTaskFinished resolves for a finished task at once, for a running one when it ends, and refuses an unknown id', async () => {
    const { queue, handlers } = await boot();
    const done = await queue.pushTask({ type: 'ok' });
    await waitFor(async () => (await queue.getTask(done)).status === 'succeeded', 'the first task');
    expect(await queue.onTaskFinished(done)).toMatchObject({ taskId: done, status: 'succeeded', result: 'fine' });
    const gated = await queue.pushTask({ type: 'gated' });
    const waiting = queue.onTaskFinished(gated);
    await expect(queue.onTaskFinished(gated, { timeoutMs: 100 })).rejects.toBeInstanceOf(TaskWaitTimeoutError);
    handlers.open();
    expect(await waiting).toMatchObject({ taskId: gated, status: 'succeeded' });
    const doomed = await queue.pushTask({ type: 'doomed' });
    expect(await queue.onTaskFinished(doomed)).toMatchObject({ status: 'dead' });
    await expect(queue.onTaskFinished('no-such-task')).rejects.toBeInstanceOf(TaskNotFoundError);
  });

  it('onTaskFinished of a finished task resolves whatever its timeout; a timeout no timer can hold is refused, Infinity waits', async () => {
    const { queue, handlers } = await boot();
    const done = await queue.pushTask({ type: 'ok' });
    await waitFor(async () => (await queue.getTask(done)).status === 'succeeded', 'the task to finish');
    // the deadline used to race the first read: a finished task was reported as timed out
    for (let i = 0; i < 10; i++) {
      for (const timeoutMs of [0, 1]) expect(await queue.onTaskFinished(done, { timeoutMs })).toMatchObject({ status: 'succeeded' });
    }
    expect(await queue.onTaskFinished(done, null as never)).toMatchObject({ status: 'succeeded' });
    for (const [options, field] of [
      ['x', 'options'],
      [{ timeoutMs: 2 ** 31 }, 'options.timeoutMs'],
      [{ timeoutMs: NaN }, 'options.timeoutMs'],
      [{ timeoutMs: -5 }, 'options.timeoutMs'],
      [{ timeoutMs: '100' }, 'options.timeoutMs'],
    ] as const) {
      const error = await queue.onTaskFinished(done, options as never).then(() => null, (err: unknown) => err);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error).toMatchObject({ field });
    }
    const gated = await queue.pushTask({ type: 'gated' });
    const forever = queue.onTaskFinished(gated, { timeoutMs: Infinity });
    const early = await Promise.race([forever.then(() => 'settled', () => 'rejected'), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 300))]);
    expect(early).toBe('still waiting');
    handlers.open();
    expect(await forever).toMatchObject({ taskId: gated, status: 'succeeded' });
  });

  it('retryTask of a dead task, or of one waiting for its retry, reports it queued again (events$ too), then its new tries', async () => {
    const { queue } = await boot();
    const { events, sub } = collect(queue);
    const local: Array<[string, string, string]> = [];
    queue.events$.subscribe((e) => local.push([e.taskId, e.kind, e.type]));
    await live(queue, events);
    const doomed = await queue.pushTask({ type: 'doomed' });
    const waiting = await queue.pushTask({ type: 'slow-retry' });
    await waitFor(() => ended(events, doomed) && events.some((e) => e.taskId === waiting && e.kind === 'retrying'), 'a dead task and a failed one');
    await queue.retryTask(doomed);
    await queue.retryTask(waiting);
    await waitFor(() => events.filter((e) => e.taskId === doomed && e.kind === 'dead').length === 2 && events.filter((e) => e.taskId === waiting && e.kind === 'retrying').length === 2, 'the retried tries', 15_000);
    sub.unsubscribe();
    expect(events.filter((e) => e.taskId === doomed).map((e) => e.kind)).toEqual(['queued', 'started', 'dead', 'queued', 'started', 'dead']);
    expect(events.filter((e) => e.taskId === waiting).map((e) => e.kind)).toEqual(['queued', 'started', 'retrying', 'queued', 'started', 'retrying']);
    expect(events.filter((e) => e.kind === 'queued' && (e.taskId === doomed || e.taskId === waiting)).map((e) => e.type).sort()).toEqual(['doomed', 'doomed', 'slow-retry', 'slow-retry']);
    expect(local.filter(([id, kind]) => id === doomed && kind === 'queued')).toEqual([[doomed, 'queued', 'doomed'], [doomed, 'queued', 'doomed']]);
    expect(local.filter(([id, kind]) => id === waiting && kind === 'queued')).toHaveLength(2);
    // the tries again are events of their own: by id, and on Redis (where one event can reach a subscriber under two
    // ids) by the README's de-duplication key (attempt is 0 on most Redis entries); elsewhere two of a task's events of
    // one kind may share a millisecond
    const key = (e: ClusterTaskEvent) => (backend === 'redis' ? `${e.taskId} ${e.kind} ${e.at.getTime()}` : e.id);
    expect(new Set(events.map(key)).size).toBe(events.length);
  });

  it('reports the cancel of a pending task and of a running one', async () => {
    const { queue } = await boot();
    const { events, sub } = collect(queue);
    await live(queue, events);
    const pending = await queue.pushTask({ type: 'ok', delayMs: 600_000 });
    const running = await queue.pushTask({ type: 'cooperative' });
    await waitFor(async () => (await queue.getTask(running)).status === 'running', 'the task to start');
    expect(await queue.cancelTask(pending)).toBe(true);
    expect(await queue.cancelTask(running)).toBe(true);
    await waitFor(() => [pending, running].every((id) => ended(events, id)), 'both cancels', 15_000);
    sub.unsubscribe();
    expect(events.filter((e) => e.taskId === pending).map((e) => e.kind)).toEqual(['queued', 'cancelled']);
    expect(events.filter((e) => e.taskId === running).map((e) => e.kind)).toEqual(['queued', 'started', 'cancelled']);
    expect(await queue.onTaskFinished(running)).toMatchObject({ status: 'cancelled' });
  });

  it('onTaskFinished works with cluster events off (by polling), and clusterEvents$ then refuses', async () => {
    const { queue } = await boot({ queue: { clusterEvents: false } });
    const id = await queue.pushTask({ type: 'ok' });
    expect(await queue.onTaskFinished(id, { timeoutMs: 10_000 })).toMatchObject({ status: 'succeeded' });
    expect(() => queue.clusterEvents$()).toThrow(InvalidOptionsError);
  });

  it('"from now" is the subscription: a push awaited right after subscribing is reported from its queued step', async () => {
    // Redis placed a new reader at the server's clock once its own connection was up: after such a push's `queued`
    const { queue } = await boot();
    const warm = collect(queue);
    await live(queue, warm.events);
    warm.sub.unsubscribe();
    for (let round = 0; round < 3; round++) {
      const { events, sub } = collect(queue);
      const id = await queue.pushTask({ type: 'ok' });
      await waitFor(() => ended(events, id), 'its outcome', 15_000);
      sub.unsubscribe();
      expect(events.filter((e) => e.taskId === id).map((e) => e.kind)).toEqual(['queued', 'started', 'succeeded']);
    }
  });

  it("refuses an `after` past the newest event, which no id this queue gave can be (InvalidArgumentError: the call's or the stream's)", async () => {
    // a checkpoint from another database or process was accepted, and the stream stayed silent until ids passed it
    const { queue } = await boot();
    const { events, sub } = collect(queue);
    await live(queue, events);
    sub.unsubscribe();
    const last = events.at(-1)!.id;
    const ahead =
      backend === 'redis'
        ? Buffer.from(JSON.stringify([`${Date.now() + 3_600_000}-0`, {}])).toString('base64url')
        : last.replace(/\d+$/, (n) => String(Number(n) + 1000));
    const outcome = (after: string): Promise<unknown> =>
      new Promise((resolve) => {
        try {
          const s = queue.clusterEvents$({ after }).subscribe({ next: () => resolve('an event'), error: resolve, complete: () => resolve('completed') });
          // a stream that reads on (the accepted `after`) is ended by the test once it has been given the chance to refuse
          setTimeout(() => (s.unsubscribe(), resolve('reading')), 1500);
        } catch (err) {
          resolve(err);
        }
      });
    const refused = await outcome(ahead);
    expect(refused).toBeInstanceOf(InvalidArgumentError);
    expect(refused).toMatchObject({ field: 'after', message: expect.stringContaining('not an event id of this queue') });
    // the newest id it gave is still one to resume from
    expect(await outcome(last)).toBe('reading');
  });

  it('refuses an `after` that is no event id', async () => {
    const { queue } = await boot();
    expect(() => queue.clusterEvents$({ after: 'not an id' })).toThrow(InvalidArgumentError);
    // an id is a string on every backend: the number of a database's id is refused as Redis refuses it
    expect(() => queue.clusterEvents$({ after: 12345 as unknown as string })).toThrow(/after must be an event id \(a string\) from this queue, got 12345/);
    expect(() => queue.clusterEvents$({ after: null as unknown as string })).toThrow(InvalidArgumentError);
  });
});
