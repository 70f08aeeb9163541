import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueSchedulerModule, SchedulerService, TaskContext, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { freePort, PrivateRedis } from './support/redis-server';
import { waitFor } from './support/wait-for';

jest.setTimeout(120_000);

@Injectable()
class Recorder {
  readonly runs = new Map<string, number>();

  @TaskHandler('record', { concurrency: 4 })
  record(_params: unknown, ctx: TaskContext): void {
    this.runs.set(ctx.taskId, (this.runs.get(ctx.taskId) ?? 0) + 1);
  }
}

@Injectable()
class Slow {
  started = 0;

  @TaskHandler('slow')
  async slow(): Promise<void> {
    this.started++;
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }

  @TaskHandler('tick')
  tick(): void {}
}

/** A private Redis for the describe block it is called in: started before its tests, removed after them. */
function usePrivateRedis(): Pick<PrivateRedis, 'start' | 'stop'> & { readonly port: number } {
  let redis: PrivateRedis | undefined;
  beforeAll(async () => {
    redis = new PrivateRedis(await freePort());
    await redis.start();
  });
  afterAll(() => redis?.destroy());
  return {
    get port() {
      return redis!.port;
    },
    start: () => redis!.start(),
    stop: () => redis!.stop(),
  };
}

@Injectable()
class OneSecond {
  started = 0;
  ended = 0;

  @TaskHandler('one-second')
  async run(): Promise<void> {
    this.started++;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    this.ended++;
  }
}

describe('redis backend while Redis is down', () => {
  const redis = usePrivateRedis();

  it('app.close() resolves without waiting for Redis: the streams complete, a claim, a firing and an outcome are left to leases', async () => {
    // it waited for Redis to come back: the cluster event reader's XREAD, QUIT, a claim, the count of pending tasks
    // and a schedule's push each sat in ioredis's offline queue
    const ref = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ type: 'better-sqlite3', database: ':memory:', autoLoadEntities: true, synchronize: true }),
        QueueSchedulerModule.forRoot({
          logLevel: 'fatal',
          shutdownTimeoutMs: 500,
          queue: { backend: 'redis', connection: { host: '127.0.0.1', port: redis.port }, prefix: 'outage', clusterEvents: true, pollIntervalMs: 100 },
        }),
      ],
      providers: [Slow],
    }).compile();
    const app = ref.createNestApplication({ logger: false });
    await app.init();
    const queue = app.get(TaskQueue);
    let completed = false;
    queue.clusterEvents$().subscribe({ complete: () => (completed = true) });
    await app.get(SchedulerService).addSchedule({ name: 'every second', taskType: 'tick', scheduleType: 'interval', intervalSeconds: 1 });
    await queue.pushTask({ type: 'slow' });
    await waitFor(() => app.get(Slow).started === 1, 'the slow task to start', 10_000);

    await redis.stop();
    const closing = app.close().then(() => 'closed');
    // a generous guard: the steps that wait for a backend away give up after 5 s each
    const within = async (ms: number): Promise<unknown> => {
      let timer: NodeJS.Timeout | undefined;
      const guard = new Promise((resolve) => (timer = setTimeout(resolve, ms, 'still waiting for Redis')));
      return Promise.race([closing, guard]).finally(() => clearTimeout(timer));
    };
    const outcome = await within(40_000);
    // back, so that a close still waiting ends (it did not, before: the reader's XREAD never settled)
    await redis.start();
    await within(20_000);
    expect(outcome).toBe('closed');
    expect(completed).toBe(true);
  });
});

describe('redis backend, Redis down while a handler finishes', () => {
  const redis = usePrivateRedis();

  it('app.close() gives the outcome write 5 s once the handler is done, not the whole shutdownTimeoutMs', async () => {
    // the pool waited shutdownTimeoutMs (10 s) for "handlers done and outcomes written", then 5 s more: 15 s for a
    // handler that had ended after 1 s, its write waiting for Redis
    const ref = await Test.createTestingModule({
      imports: [
        QueueSchedulerModule.forRoot({
          logLevel: 'fatal',
          dataSource: false,
          workers: { concurrency: 1 },
          queue: { backend: 'redis', connection: { host: '127.0.0.1', port: redis.port }, prefix: 'down-at-end', pollIntervalMs: 100 },
        }),
      ],
      providers: [OneSecond],
    }).compile();
    const app = ref.createNestApplication({ logger: false });
    await app.init();
    const shutdownTimeoutMs = 10_000;
    await app.get(TaskQueue).pushTask({ type: 'one-second' });
    await waitFor(() => app.get(OneSecond).started === 1, 'the task to start', 10_000);
    await redis.stop();
    const startedClose = Date.now();
    await app.close();
    const tookMs = Date.now() - startedClose;
    await redis.start();
    expect(app.get(OneSecond).ended).toBe(1);
    expect(tookMs).toBeLessThan(shutdownTimeoutMs);
  });
});

describe('redis backend, the log of a Redis outage', () => {
  const redis = usePrivateRedis();

  it('is one line when the connection is lost and one when it is back, with no stack from BullMQ connections of each type', async () => {
    const lines: Array<{ level: string; message: string; stack: boolean }> = [];
    // Nest passes an error's stack second, and the context second to the other levels
    const record = (level: string) => (message: unknown, stack?: unknown) => lines.push({ level, message: String(message), stack: level === 'error' && typeof stack === 'string' && stack.includes('\n') });
    const ref = await Test.createTestingModule({
      imports: [
        QueueSchedulerModule.forRoot({
          logLevel: 'log',
          dataSource: false,
          queue: { backend: 'redis', connection: { host: '127.0.0.1', port: redis.port }, prefix: 'outage-log', pollIntervalMs: 100 },
        }),
      ],
      providers: [Recorder, OneSecond],
    }).compile();
    const app = ref.createNestApplication({ logger: { log: record('log'), warn: record('warn'), error: record('error') } });
    await app.init();
    try {
      await app.get(TaskQueue).pushTask({ type: 'record' });
      await waitFor(() => app.get(Recorder).runs.size === 1, 'a task run before the outage', 10_000);
      const before = lines.length;
      await redis.stop();
      await waitFor(() => lines.some((l) => l.message.includes('redis connection lost')), 'the outage noticed', 10_000);
      // long enough for BullMQ's own connections to try again (every 2 s)
      await new Promise((resolve) => setTimeout(resolve, 3000));
      await redis.start();
      await waitFor(() => lines.some((l) => l.message.includes('redis connection restored')), 'the connection back', 20_000);
      await app.get(TaskQueue).pushTask({ type: 'record' });
      await waitFor(() => app.get(Recorder).runs.size === 2, 'a task run after the outage', 20_000);
      const during = lines.slice(before).filter((l) => l.level !== 'log' || /redis/.test(l.message));
      expect(during.map((l) => l.message.replace(/: .*$/, ''))).toEqual(['redis connection lost, reconnecting', 'redis connection restored']);
      expect(during.filter((l) => l.stack)).toEqual([]);
    } finally {
      await app.close();
    }
  });
});

describe('redis backend when Redis restarts mid-run', () => {
  let redis: PrivateRedis;
  let app: INestApplication | undefined;

  beforeAll(async () => {
    redis = new PrivateRedis(await freePort());
    await redis.start();
  });

  afterAll(async () => {
    await app?.close();
    await redis.destroy();
  });

  it('loses no acknowledged push, and the app recovers without a restart', async () => {
    const ref = await Test.createTestingModule({
      imports: [
        QueueSchedulerModule.forRoot({
          logLevel: 'fatal',
          dataSource: false,
          // a short lock, so a job whose fetch reply was lost with the connection comes back quickly (at-least-once)
          queue: { backend: 'redis', connection: { host: '127.0.0.1', port: redis.port }, prefix: 'restart', pollIntervalMs: 100, leaseMs: 2000, sweepIntervalMs: 500 },
        }),
      ],
      providers: [Recorder],
    }).compile();
    app = ref.createNestApplication({ logger: false });
    await app.init();
    const queue = app.get(TaskQueue);
    const recorder = app.get(Recorder);

    // a producer pushing without pause; an id counts as acknowledged once pushTask resolved
    const acknowledged: string[] = [];
    let stopPushing = false;
    const producing = (async () => {
      for (let i = 0; !stopPushing; i++) {
        acknowledged.push(await queue.pushTask({ taskId: `r${i}`, type: 'record' }));
      }
    })();

    await waitFor(() => acknowledged.length >= 300 && recorder.runs.size >= 100, 'work flowing before the restart', 30_000);
    await redis.stop();
    const atStop = acknowledged.length;
    await redis.start();
    await waitFor(() => acknowledged.length >= atStop + 300, 'pushes acknowledged again after the restart', 30_000);
    stopPushing = true;
    await producing;

    await waitFor(() => acknowledged.every((id) => recorder.runs.has(id)), 'every acknowledged task ran', 60_000, 50);
    await waitFor(async () => (await queue.countByStatus()).succeeded === acknowledged.length, 'every acknowledged task recorded as succeeded', 30_000, 50);
    const counts = await queue.countByStatus();
    expect(counts.succeeded).toBe(acknowledged.length);
    expect(counts).toMatchObject({ pending: 0, running: 0, dead: 0 });
    for (const id of [acknowledged[0], acknowledged[atStop - 1], acknowledged[acknowledged.length - 1]]) {
      expect((await queue.getTask(id)).status).toBe('succeeded');
    }
    // the store works on the same connection after the restart
    await queue.setPublic('after', 'restart');
    expect(await queue.getPublic('after')).toBe('restart');
  });
});
