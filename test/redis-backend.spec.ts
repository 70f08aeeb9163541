import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  InvalidArgumentError,
  InvalidOptionsError,
  InvalidTaskError,
  QueueSchedulerModule,
  type QueueSchedulerModuleOptions,
  RedisQueueService,
  TaskContext,
  TaskHandler,
  TaskNotFoundError,
  WorkerPoolService,
} from 'nestjs-queue-scheduler';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { jobIdOf } from 'nestjs-queue-scheduler/queue/redis/redis-keys';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(30_000);

@Injectable()
class Handlers {
  readonly seen: Array<{ taskId: string; attempt: number }> = [];

  @TaskHandler('note')
  note(_params: unknown, ctx: TaskContext): string {
    this.seen.push({ taskId: ctx.taskId, attempt: ctx.attempt });
    return ctx.taskId;
  }

  running = 0;
  maxRunning = 0;

  @TaskHandler('one-at-a-time', { concurrency: 1 })
  async oneAtATime(params: { ms: number }): Promise<void> {
    this.maxRunning = Math.max(this.maxRunning, ++this.running);
    await new Promise((resolve) => setTimeout(resolve, params.ms));
    this.running--;
  }

  @TaskHandler('hangs', { timeoutMs: 150 })
  async hangs(_params: unknown, ctx: TaskContext): Promise<void> {
    await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  }

  gate?: Promise<void>;

  @TaskHandler('gated')
  async gated(): Promise<void> {
    await this.gate;
  }

  @TaskHandler('fail-slowly', { retries: { attempts: 3, backoff: 'fixed', delayMs: 60_000 } })
  failSlowly(_params: unknown, ctx: TaskContext): never {
    this.seen.push({ taskId: ctx.taskId, attempt: ctx.attempt });
    throw new Error(`try ${ctx.attempt} failed`);
  }
}

/** What only the redis backend has: its id and priority mapping, its options, its retry of a waiting retry. */
describe('redis backend specifics', () => {
  let app: INestApplication | undefined;
  let prefix = '';

  afterEach(async () => {
    await app?.close();
    app = undefined;
    await dropPrefix(prefix);
  });

  async function boot(options: QueueSchedulerModuleOptions = {}) {
    prefix = testPrefix();
    const ref = await Test.createTestingModule({
      imports: [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, ...options, queue: { backend: 'redis', connection: REDIS, prefix, pollIntervalMs: 50, ...options.queue } })],
      providers: [Handlers],
    }).compile();
    app = ref.createNestApplication({ logger: false });
    await app.init();
    return { queue: app.get(RedisQueueService), handlers: app.get(Handlers) };
  }

  it("runs tasks whose ids BullMQ would refuse as job ids (':' and integers), under those ids", async () => {
    const { queue, handlers } = await boot();
    const ids = ['schedule-1:1767225600000', '42', 'a%3Ab', 'x:y:z'];
    for (const taskId of ids) expect(await queue.pushTask({ taskId, type: 'note' })).toBe(taskId);
    await waitFor(async () => (await queue.countByStatus()).succeeded === ids.length, 'all ran');
    expect(handlers.seen.map((s) => s.taskId).sort()).toEqual([...ids].sort());
    for (const taskId of ids) expect(await queue.getTask(taskId)).toMatchObject({ taskId, status: 'succeeded', result: taskId });
    expect(await queue.pushTask({ taskId: '42', type: 'note' })).toBe('42');
    await waitFor(() => handlers.seen.filter((s) => s.taskId === '42').length === 2, 'a finished integer id queued anew');
  });

  it("holds a handler's concurrency cap while other types fill the pool", async () => {
    const { queue, handlers } = await boot({ workers: { concurrency: 4 } });
    for (let i = 0; i < 6; i++) await queue.pushTask({ type: 'one-at-a-time', params: { ms: 30 } });
    for (let i = 0; i < 6; i++) await queue.pushTask({ type: 'note' });
    await waitFor(async () => (await queue.countByStatus()).succeeded === 12, 'all twelve ran');
    expect(handlers.maxRunning).toBe(1);
  });

  it('a job fetched along with a completion and never claimed is given back at shutdown, not left locked', async () => {
    const { queue, handlers } = await boot({ workers: { concurrency: 1 } });
    let open!: () => void;
    handlers.gate = new Promise<void>((resolve) => (open = resolve));
    await queue.pushTask({ taskId: 'first', type: 'gated' });
    await waitFor(async () => (await queue.getTask('first')).status === 'running', 'the first task runs');
    await queue.pushTask({ taskId: 'second', type: 'gated' });
    // the pool stops taking tasks; the first one's completion still fetches the second (the app is not closing)
    const pool = app!.get(WorkerPoolService);
    const stopped = pool.stop();
    open();
    await stopped;
    await waitFor(async () => (await queue.getTask('first')).status === 'succeeded', 'the first task finished');
    expect((await queue.getTask('second')).status).toBe('running');
    const keptPrefix = prefix;
    await app!.close();
    app = undefined;
    // another instance sees it waiting at once, with no attempt used, instead of after the 30 s lock
    const other = await Test.createTestingModule({
      imports: [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, workers: { enabled: false }, queue: { backend: 'redis', connection: REDIS, prefix: keptPrefix } })],
    }).compile();
    app = other.createNestApplication({ logger: false });
    await app.init();
    expect(await app.get(RedisQueueService).getTask('second')).toMatchObject({ status: 'pending', attempts: 0 });
  });

  it('a handler past its timeoutMs is aborted through its signal and fails with TaskTimeoutError', async () => {
    const { queue } = await boot();
    const id = await queue.pushTask({ type: 'hangs' });
    await waitFor(async () => (await queue.getTask(id)).status === 'dead', 'dead after the timeout');
    expect((await queue.getTask(id)).error).toBe('handler timed out after 150 ms');
  });

  it('refuses a priority outside the range BullMQ can order, naming the field and queueing nothing', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    await expect(queue.pushTask({ type: 'note', priority: 2 ** 21 })).rejects.toThrow(new InvalidTaskError('priority', 'priority must be an integer from -1048575 to 1048575 on the redis backend, got 2097152'));
    await queue.pushTask({ taskId: 'low', type: 'note', priority: -1_048_575 });
    await queue.pushTask({ taskId: 'high', type: 'note', priority: 1_048_575 });
    await queue.pushTask({ taskId: 'mid', type: 'note' });
    const claimed = await queue.claim({ types: ['note'], unknownTypes: false, handled: new Set(['note']) }, 3);
    expect(claimed.map((t) => t.taskId)).toEqual(['low', 'mid', 'high']);
    expect(await queue.getQueueSize()).toBe(0);
  });

  /** A key's slot as a push left it that died after reserving the key, before reporting its job added. */
  async function deadReservation(key: string, taskId: string, type: string, agoMs = 0): Promise<void> {
    const client = new IORedis(REDIS);
    await client.hset(`${prefix}:~singleton:${key}`, 'id', taskId, 'queue', `${prefix}:task.${type}`, 'job', jobIdOf(taskId), 'at', String(Date.now() - agoMs), 'added', '0');
    await client.quit();
  }

  it('a key reserved by a push that died before adding its job: a push with it waits, then takes the key, and never returns an id no task has', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    await deadReservation('orphan', 'ghost', 'note');
    const started = Date.now();
    const id = await queue.pushTask({ type: 'note', params: { n: 2 }, singletonKey: 'orphan', debounceMs: 1 });
    expect(id).not.toBe('ghost');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await queue.getTask(id)).toMatchObject({ status: 'pending', params: { n: 2 }, singletonKey: 'orphan' });
    // the key is the new task's now
    expect(await queue.pushTask({ type: 'note', singletonKey: 'orphan' })).toBe(id);
  });

  it('a throttle key reserved by a push that died over 30 s ago, inside its window: a push takes the key at once, not the dead id', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    await deadReservation('stale', 'ghost-stale', 'note', 31_000);
    const started = Date.now();
    const id = await queue.pushTask({ type: 'note', params: { n: 1 }, singletonKey: 'stale', throttleMs: 3_600_000 });
    expect(id).not.toBe('ghost-stale');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await queue.getTask(id)).toMatchObject({ status: 'pending', params: { n: 1 }, singletonKey: 'stale' });
    // the window is the new task's
    expect(await queue.pushTask({ type: 'note', singletonKey: 'stale', throttleMs: 3_600_000 })).toBe(id);
  });

  it('a push that stalls past 2 s between reserving a key and adding its job, and is taken over, takes its job back: one task for the key', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    for (const mode of [{}, { throttleMs: 600_000 }, { debounceMs: 1 }]) {
      const key = `stall-${Object.keys(mode)[0] ?? 'singleton'}`;
      const bull = (queue as unknown as { redis: { queueFor(type: string): Queue } }).redis.queueFor('note');
      const add = bull.add.bind(bull);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const spy = jest.spyOn(bull, 'add').mockImplementation(async (name, data, opts) => {
        if (opts?.jobId === jobIdOf(`${key}-a`)) await gate;
        return add(name, data, opts);
      });
      try {
        const stalled = queue.pushTask({ taskId: `${key}-a`, type: 'note', params: { who: 'a' }, singletonKey: key, ...mode });
        await new Promise((resolve) => setTimeout(resolve, 50));
        const taker = await queue.pushTask({ taskId: `${key}-b`, type: 'note', params: { who: 'b' }, singletonKey: key, ...mode });
        expect(taker).toBe(`${key}-b`);
        release();
        expect(await stalled).toBe(`${key}-b`);
      } finally {
        spy.mockRestore();
      }
      const live = (await queue.listTasks({ type: 'note', status: 'pending' })).items.filter((t) => t.singletonKey === key);
      expect(live.map((t) => [t.taskId, t.params])).toEqual([[`${key}-b`, { who: 'b' }]]);
      await expect(queue.getTask(`${key}-a`)).rejects.toBeInstanceOf(TaskNotFoundError);
      expect(await queue.pushTask({ type: 'note', singletonKey: key, ...mode })).toBe(`${key}-b`);
    }
  });

  it('a stalled push whose job a worker ran before it reported back keeps that task: nothing that ran is taken back', async () => {
    const { queue } = await boot();
    const key = 'stall-ran';
    const bull = (queue as unknown as { redis: { queueFor(type: string): Queue } }).redis.queueFor('note');
    const add = bull.add.bind(bull);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const spy = jest.spyOn(bull, 'add').mockImplementation(async (name, data, opts) => {
      if (opts?.jobId !== jobIdOf(`${key}-a`)) return add(name, data, opts);
      await gate;
      const job = await add(name, data, opts);
      // still stalled after the add: a worker runs the job to its end before this push reports back
      await waitFor(async () => (await queue.getTask(`${key}-a`)).status === 'succeeded', 'the stalled push\'s task to run');
      return job;
    });
    try {
      const stalled = queue.pushTask({ taskId: `${key}-a`, type: 'note', singletonKey: key });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await queue.pushTask({ taskId: `${key}-b`, type: 'note', singletonKey: key })).toBe(`${key}-b`);
      release();
      expect(await stalled).toBe(`${key}-a`);
    } finally {
      spy.mockRestore();
    }
    expect(await queue.getTask(`${key}-a`)).toMatchObject({ status: 'succeeded', result: `${key}-a` });
    await waitFor(async () => (await queue.getTask(`${key}-b`)).status === 'succeeded', 'the other task to run');
  });

  it('trims the index of store keys with a TTL every store.cleanupIntervalSeconds, as the other backends sweep theirs', async () => {
    const { queue } = await boot({ store: { cleanupIntervalSeconds: 1 } });
    for (let i = 0; i < 50; i++) await queue.setPublic(`session-${i}`, { i }, 0.2);
    await queue.setPublic('kept', 1);
    const client = new IORedis(REDIS);
    try {
      expect(await client.zcard(`${prefix}:~store-expiry`)).toBe(50);
      // Redis drops the keys; the index of them grew by one entry per set, for good, until cleanup() was called by hand
      await waitFor(async () => (await client.zcard(`${prefix}:~store-expiry`)) === 0, 'the index trimmed', 10_000);
    } finally {
      await client.quit();
    }
    expect(await queue.getPublic('kept')).toBe(1);
  });

  it('two pushes meeting one dead reservation: one takes the key, the other waits for its job and returns its id', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    for (const mode of [{}, { debounceMs: 1 }, { throttleMs: 600_000 }]) {
      const key = `orphan-${Object.keys(mode)[0] ?? 'singleton'}`;
      await deadReservation(key, `ghost-${key}`, 'note');
      const ids = await Promise.all(['b', 'c'].map((who) => queue.pushTask({ taskId: `${key}-${who}`, type: 'note', params: { who }, singletonKey: key, ...mode })));
      expect(ids[0]).toBe(ids[1]);
      expect((await queue.listTasks({ type: 'note', status: 'pending' })).items.filter((t) => t.singletonKey === key).map((t) => t.taskId)).toEqual([ids[0]]);
    }
  });

  it('a key whose push died after adding its job: a debounce folds into that job at once, with its params', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    await queue.pushTask({ taskId: 'added', type: 'note', params: { by: 'dead push' }, delayMs: 60_000 });
    await deadReservation('half', 'added', 'note');
    const started = Date.now();
    expect(await queue.pushTask({ type: 'note', params: { by: 'debounce' }, singletonKey: 'half', debounceMs: 1 })).toBe('added');
    expect(Date.now() - started).toBeLessThan(1000);
    const task = await queue.getTask('added');
    expect(task.params).toEqual({ by: 'debounce' });
    expect(task.runAt.getTime()).toBeLessThan(Date.now() + 1000);
  });

  it('retryTask on a task waiting for its retry runs it now with a fresh attempt count', async () => {
    const { queue, handlers } = await boot();
    const id = await queue.pushTask({ type: 'fail-slowly' });
    await waitFor(async () => (await queue.getTask(id)).status === 'failed', 'first try failed, retry a minute away');
    expect(await queue.getTask(id)).toMatchObject({ attempts: 1, error: 'try 1 failed' });
    expect(await queue.countByStatus()).toMatchObject({ failed: 1, pending: 0 });
    await queue.retryTask(id);
    await waitFor(() => handlers.seen.length === 2, 'run again at once');
    expect(handlers.seen.map((s) => s.attempt)).toEqual([1, 1]);
    await expect(queue.retryTask('unknown-id')).rejects.toThrow("No task with id 'unknown-id'");
  });

  it('a cancelled id can be pushed again; retryTask refuses a pending task', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    await queue.pushTask({ taskId: 'c', type: 'note', delayMs: 60_000 });
    await expect(queue.retryTask('c')).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await queue.cancelTask('c')).toBe(true);
    expect(await queue.countByStatus()).toMatchObject({ cancelled: 1, pending: 0 });
    expect((await queue.listTasks({ status: 'cancelled' })).items.map((t) => t.taskId)).toEqual(['c']);
    await queue.pushTask({ taskId: 'c', type: 'note', params: { again: true } });
    expect(await queue.getTask('c')).toMatchObject({ status: 'pending', params: { again: true } });
    expect(await queue.countByStatus()).toMatchObject({ cancelled: 0, pending: 1 });
  });

  it('forgets the index entries of jobs BullMQ removed after retention, a sweep after they went missing', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    for (const taskId of ['keep-1', 'gone', 'keep-2']) await queue.pushTask({ taskId, type: 'note' });
    // what BullMQ's removeOnComplete age does to an old finished job
    const bull = new Queue('task.note', { connection: REDIS, prefix });
    await bull.remove(jobIdOf('gone'));
    await bull.close();
    expect(await queue.trimIndex()).toBe(0); // missing once: perhaps a push between indexing and adding
    expect(await queue.trimIndex()).toBe(1);
    const redis = new IORedis(REDIS);
    expect(await redis.hlen(`${prefix}:~index`)).toBe(2);
    redis.disconnect();
    expect((await queue.listTasks()).items.map((t) => t.taskId)).toEqual(['keep-2', 'keep-1']);
    await expect(queue.getTask('gone')).rejects.toBeInstanceOf(TaskNotFoundError);
    expect(await queue.trimIndex()).toBe(0);
  });

  it.each([
    [{ connection: 'http://localhost:6379' }, 'queue.connection', "queue.connection must be a redis:// or rediss:// URL or an ioredis options object, got 'http://localhost:6379'"],
    [{ connection: 6379 }, 'queue.connection', 'queue.connection must be a redis:// or rediss:// URL or an ioredis options object, got 6379'],
    [{ prefix: 'my app*' }, 'queue.prefix', "queue.prefix must be 1 to 64 characters without spaces or * ? [ ] \\, got 'my app*'"],
    [{ backend: 'kafka' }, 'queue.backend', "queue.backend must be 'memory', 'database' or 'redis', got 'kafka'"],
  ])('refuses bad options at start-up: %j', async (queueOptions, field, message) => {
    const ref = Test.createTestingModule({
      imports: [QueueSchedulerModule.forRoot({ dataSource: false, queue: { backend: 'redis', ...(queueOptions as object) } })],
    });
    const error = await ref.compile().then(() => null, (err: unknown) => err);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error).toMatchObject({ field, message });
  });
});
