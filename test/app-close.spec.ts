import { createHook } from 'node:async_hooks';
import { sep } from 'node:path';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { QueueClosedError, SchedulerService, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { BACKENDS, useBackendApp } from './support/backend-app';
import { waitFor } from './support/wait-for';

/** The library's own source: a resource made with one of its frames on the stack is the library's to release. */
const LIBRARY = `${sep}libs${sep}queue-scheduler${sep}src${sep}`;
const KINDS = new Set(['Timeout', 'Immediate', 'TCPWRAP', 'PIPEWRAP']);
const DRIVERS = /[\\/]node_modules[\\/](ioredis|bullmq|mysql2|pg|pg-pool|better-sqlite3|typeorm)[\\/]/;

/**
 * Timers and sockets made while a library frame was on the stack, alive until Node destroys them (a timer
 * cleared or run, a socket closed), each with the stack that made it.
 */
class LibraryResources {
  private readonly live = new Map<number, string>();
  /** `anyStack`: the drivers' timers and sockets too (one armed by a close the library made is the library's doing). */
  constructor(private readonly anyStack = false) {}

  private readonly hook = createHook({
    init: (id, type) => {
      if (!KINDS.has(type)) return;
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 40;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      const mine = (line: string): boolean => line.includes(LIBRARY) || (this.anyStack && DRIVERS.test(line));
      if (stack.split('\n').some(mine)) this.live.set(id, `${type}\n${stack.split('\n').filter(mine).join('\n')}`);
    },
    destroy: (id) => void this.live.delete(id),
  });

  start(): void {
    this.live.clear();
    this.hook.enable();
  }

  stop(): void {
    this.hook.disable();
  }

  get left(): string[] {
    return [...this.live.values()];
  }
}

@Injectable()
class Handlers {
  ran = 0;

  @TaskHandler('limited', { rateLimit: { max: 100, perMs: 1000 } })
  limited(): void {
    this.ran++;
  }

  @TaskHandler('later')
  later(): void {}
}

/** An app's own provider whose start-up fails, after the library's providers have started theirs. */
@Injectable()
class FailingStart implements OnModuleInit {
  onModuleInit(): void {
    throw new Error("the app's own start-up failed");
  }
}

/**
 * A Nest app that closes must leave nothing of the library running: Jest reports a worker that "failed to exit
 * gracefully", and a process that makes apps (tests, a CLI) keeps timers firing against closed connections. Nest
 * runs the selected backend's hooks once for each token it is provided under (its class and TaskQueue), so a hook
 * that starts something must start it once: the Redis backend's second index-trim timer outlived close().
 */
describe.each(BACKENDS)('%s backend: closing the app', (backend) => {
  const app = useBackendApp(backend);
  const resources = new LibraryResources();

  afterEach(() => resources.stop());

  it('leaves no timer or socket of the library behind, and ends the waits for tasks and for idle', async () => {
    resources.start();
    const nest = await app.boot({ queue: { clusterEvents: true } }, [Handlers]);
    const queue = nest.get(TaskQueue);
    await queue.pushTask({ type: 'limited' });
    const laterId = await queue.pushTask({ type: 'later', delayMs: 3_600_000 });
    // a wait for a task that cannot finish before the app closes: it ends with the queue, not at its timeout
    const waiting = queue.onTaskFinished(laterId, { timeoutMs: 60_000 }).catch((err: Error) => err);
    // and a wait for the queue to be idle, which the delayed task keeps it from being (a poll on the durable backends)
    const idle = queue.onIdle().then(() => 'idle', (err: Error) => err);
    if (app.db.present) await nest.get(SchedulerService).addSchedule({ name: 'every-second', taskType: 'limited', scheduleType: 'interval', intervalSeconds: 1 });
    // the cluster feed's reader: a poll, PostgreSQL's LISTEN, Redis streams
    const seen: string[] = [];
    const feed = queue.clusterEvents$().subscribe((e) => seen.push(e.kind));
    await waitFor(() => nest.get(Handlers).ran >= 1, 'a task ran');
    await app.close();
    feed.unsubscribe();
    expect(await waiting).toBeInstanceOf(QueueClosedError);
    await expect(queue.onTaskFinished(laterId)).rejects.toThrow(QueueClosedError);
    const idleEnd = await idle;
    expect(idleEnd).toBeInstanceOf(QueueClosedError);
    expect((idleEnd as QueueClosedError).taskId).toBeUndefined();
    await expect(queue.onIdle()).rejects.toThrow(QueueClosedError);
    if (backend !== 'memory') {
      // a push after close: the typed error rather than the closed driver's (SQLite's 'connection is not open',
      // TypeORM's 'Driver not Connected', ioredis's 'Connection is closed'), and nothing written
      const pushes: Array<() => unknown> = [() => queue.pushTask({ type: 'later' }), () => queue.pushTasks([{ type: 'later' }]), () => queue.pushFlow({ type: 'later', children: [{ type: 'later' }] })];
      for (const push of pushes) {
        await expect(Promise.resolve().then(push)).rejects.toThrow(new QueueClosedError(undefined, "cannot queue a task of type 'later': the queue closed with the app"));
      }
    }
    // a socket ends and a timer is destroyed a moment after close() resolves: wait a moment for that, well short of
    // ioredis's 2 s timer that a second disconnect of a closed socket arms (the cluster feed's reader did that)
    await waitFor(() => resources.left.length === 0, 'the library to release every timer and socket', 1_000).catch(() => undefined);
    expect(resources.left).toEqual([]);
  }, 15_000);

  it('completes a reading cluster events stream before app.close() resolves', async () => {
    // a subscriber-only instance (no workers): its close is quick, and Redis's stream completed a tick after it
    const nest = await app.boot({ queue: { clusterEvents: true }, workers: { enabled: false } }, [Handlers]);
    const queue = nest.get(TaskQueue);
    let ended: string | undefined;
    const seen: string[] = [];
    queue.clusterEvents$().subscribe({ next: (e) => seen.push(e.taskId), error: (err: Error) => (ended = `error: ${err.message}`), complete: () => (ended = 'complete') });
    // a fresh reader starts from the server's clock once it is reading: push until it reports one
    let pushedAt = 0;
    await waitFor(async () => {
      if (seen.length > 0) return true;
      if (Date.now() - pushedAt > 500) [pushedAt] = [Date.now(), await queue.pushTask({ type: 'later', delayMs: 60_000 })];
      return false;
    }, 'the stream to report a task', 15_000);
    await app.close();
    // Redis completed it a tick after close() resolved: a subscriber-only process exiting then never saw it
    expect(ended).toBe('complete');
  }, 20_000);

  it('completes a cluster events stream opened just before close, rather than erroring it', async () => {
    // Redis's reader asked the server's clock (its starting point) outside its retry loop: closed before the answer,
    // the stream errored with ioredis's "Connection is closed.", and a subscriber without an error callback threw
    const nest = await app.boot({ queue: { clusterEvents: true } }, [Handlers]);
    const everything = new LibraryResources(true);
    everything.start();
    try {
      const ended = new Promise<string>((resolve) =>
        nest.get(TaskQueue).clusterEvents$().subscribe({ error: (err: Error) => resolve(`error: ${err.message}`), complete: () => resolve('complete') }),
      );
      await app.close();
      expect(await ended).toBe('complete');
      // one subscribed after the close completes at once, without a connection of its own
      const after = await new Promise<string>((resolve) =>
        nest.get(TaskQueue).clusterEvents$().subscribe({ error: (err: Error) => resolve(`error: ${err.message}`), complete: () => resolve('complete') }),
      );
      expect(after).toBe('complete');
      // and no connection, closed mid-handshake, left a timer of ioredis's behind
      await waitFor(() => everything.left.length === 0, 'every timer and socket to go', 1_000).catch(() => undefined);
      expect(everything.left).toEqual([]);
    } finally {
      everything.stop();
    }
  });

  it('closes after a failed start-up leaving no timer or socket behind, the drivers\' included', async () => {
    // a start-up that fails closes connections still in their handshake: ioredis then destroyed the socket on a 2 s
    // timer of its own that nothing cleared, and the process stayed up that long (Jest: "did not exit one second after")
    const everything = new LibraryResources(true);
    everything.start();
    try {
      await expect(app.boot({}, [Handlers, FailingStart])).rejects.toThrow("the app's own start-up failed");
      await app.close();
      await waitFor(() => everything.left.length === 0, 'every timer and socket to go', 1_000).catch(() => undefined);
      expect(everything.left).toEqual([]);
    } finally {
      everything.stop();
    }
  }, 15_000);
});
