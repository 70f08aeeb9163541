import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  InvalidArgumentError,
  InvalidTaskError,
  QueueSchedulerModule,
  type QueueSchedulerModuleOptions,
  TaskContext,
  TaskEvent,
  TaskHandler,
  TaskNotFoundError,
  TaskQueue,
} from 'nestjs-queue-scheduler';
import type { ClaimFilter, QueueConsumer } from 'nestjs-queue-scheduler/queue/queue-consumer';
import { DataSource } from 'typeorm';
import { databaseFor, DATABASES, useTestDatabase } from './support/databases';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

type Backend = 'memory' | 'redis' | (typeof DATABASES)[number];
const BACKENDS: Backend[] = ['memory', 'redis', ...DATABASES];

@Injectable()
class ContractHandlers {
  readonly starts = new Map<string, number[]>();
  failUntil = new Map<string, number>();

  @TaskHandler('echo')
  echo(params: { value: unknown }, ctx: TaskContext) {
    this.note(ctx);
    return { echoed: params.value, attempt: ctx.attempt };
  }

  @TaskHandler('flaky', { retries: { attempts: 3, backoff: 'exponential', delayMs: 100 } })
  flaky(_params: unknown, ctx: TaskContext) {
    this.note(ctx);
    if (ctx.attempt < 3) throw new Error(`flaky try ${ctx.attempt}`);
    return 'third time lucky';
  }

  @TaskHandler('broken', { retries: { attempts: 2, backoff: 'fixed', delayMs: 20 } })
  broken(_params: unknown, ctx: TaskContext) {
    this.note(ctx);
    throw new Error('always broken');
  }

  @TaskHandler('describe')
  describe(_params: unknown, ctx: TaskContext) {
    // what a handler that logs its task as JSON writes, and the Dates it reads
    return { json: JSON.parse(JSON.stringify(ctx.task)) as unknown, dates: [ctx.task.runAt, ctx.task.createdAt].map((d) => d instanceof Date) };
  }

  private note(ctx: TaskContext): void {
    this.starts.set(ctx.taskId, [...(this.starts.get(ctx.taskId) ?? []), Date.now()]);
  }
}

const only = (type: string): ClaimFilter => ({ types: [type], unknownTypes: false, handled: new Set([type]) });

describe.each(BACKENDS)('TaskQueue contract on %s', (backend) => {
  const db = useTestDatabase(databaseFor(backend));
  let app: INestApplication | undefined;
  let prefix = '';

  afterEach(async () => {
    await app?.close();
    app = undefined;
    if (prefix) await dropPrefix(prefix);
  });

  async function boot(options: QueueSchedulerModuleOptions = {}) {
    // a prefix of its own per test: each test starts from an empty Redis
    if (backend === 'redis') prefix = testPrefix();
    const redis = { backend: 'redis' as const, connection: REDIS, prefix, pollIntervalMs: 100 };
    const imports = backend === 'redis'
      ? [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, ...options, queue: { ...redis, ...options.queue } })]
      : db.present
      ? [
          TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
          QueueSchedulerModule.forRoot({ logLevel: 'fatal', ...options, queue: { backend: 'database', pollIntervalMs: 100, ...options.queue } }),
        ]
      : [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, ...options })];
    const moduleRef = await Test.createTestingModule({ imports, providers: [ContractHandlers] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    if (db.present) {
      // one database per file: each test starts from empty tables
      const ds = app.get(DataSource);
      for (const table of ['task_queue', 'queue_store', 'scheduler_task']) await ds.query(`DELETE FROM ${table}`);
    }
    await app.init();
    // the same object drives workers (QueueConsumer): the contract tests claim from it directly
    const queue = app.get<TaskQueue, TaskQueue & QueueConsumer>(TaskQueue);
    return { queue, handlers: app.get(ContractHandlers) };
  }

  it('runs a pushed task on its handler and reports it succeeded with its result', async () => {
    const { queue } = await boot();
    const events: TaskEvent[] = [];
    queue.events$.subscribe((e) => events.push(e));
    const id = await queue.pushTask({ type: 'echo', params: { value: { nested: [1, 'two', null] } } });
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'task succeeded');
    // the event follows the write; another connection may read the write first
    await waitFor(() => events.some((e) => e.taskId === id && e.kind === 'succeeded'), 'succeeded event');
    const record = await queue.getTask(id);
    expect(record).toMatchObject({ taskId: id, type: 'echo', attempts: 1, result: { echoed: { nested: [1, 'two', null] }, attempt: 1 } });
    expect(record.startedAt).toBeInstanceOf(Date);
    expect(record.completedAt!.getTime()).toBeGreaterThanOrEqual(record.startedAt!.getTime());
    expect(events.filter((e) => e.taskId === id).map((e) => e.kind)).toEqual(['queued', 'started', 'succeeded']);
    expect(await queue.countByStatus()).toMatchObject({ succeeded: 1, pending: 0, running: 0 });
  });

  it('gives a copy in each record: changing what getTask or listTasks returned changes no task', async () => {
    const { queue } = await boot();
    const id = await queue.pushTask({ type: 'echo', params: { value: { nested: [1] } }, delayMs: 1000 });
    const pending = await queue.getTask(id);
    (pending.params as { value: { nested: number[] } }).value.nested.push(2);
    (((await queue.listTasks()).items[0].params as { value: { nested: number[] } }).value.nested).push(3);
    expect((await queue.getTask(id)).params).toEqual({ value: { nested: [1] } });
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'task succeeded');
    const done = await queue.getTask(id);
    expect(done.result).toEqual({ echoed: { nested: [1] }, attempt: 1 });
    (done.result as { echoed: { nested: number[] } }).echoed.nested.push(4);
    expect((await queue.getTask(id)).result).toEqual({ echoed: { nested: [1] }, attempt: 1 });
  });

  it('hands the handler a task that reads its times as Dates and writes itself as JSON', async () => {
    const { queue } = await boot();
    const before = Date.now();
    const id = await queue.pushTask({ type: 'describe', params: { a: [1] }, priority: 3, delayMs: 150 });
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'task succeeded');
    const { result } = await queue.getTask(id);
    const { json, dates } = result as { json: Record<string, unknown>; dates: boolean[] };
    expect(dates).toEqual([true, true]);
    expect(json).toMatchObject({ taskId: id, type: 'describe', params: { a: [1] }, priority: 3, attempts: 1 });
    expect(Date.parse(json.createdAt as string)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(json.runAt as string)).toBeGreaterThanOrEqual(before + 150);
  });

  it('hands out lower priority numbers first, FIFO within a priority', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    for (const [taskId, priority] of [['p5-a', 5], ['p1-a', 1], ['p5-b', 5], ['p1-b', 1], ['p0', 0], ['p5-c', 5]] as const) {
      await queue.pushTask({ taskId, type: 'echo', priority });
    }
    const claimed = await queue.claim(only('echo'), 10);
    expect(claimed.map((t) => t.taskId)).toEqual(['p0', 'p1-a', 'p1-b', 'p5-a', 'p5-b', 'p5-c']);
    expect(claimed.every((t) => t.attempts === 1)).toBe(true);
  });

  it('does not hand out a delayed task before its time', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    const pushedAt = Date.now();
    await queue.pushTask({ taskId: 'later', type: 'echo', delayMs: 400 });
    expect(await queue.claim(only('echo'), 1)).toEqual([]);
    let claimedAt = 0;
    await waitFor(async () => {
      const got = await queue.claim(only('echo'), 1);
      if (got.length) claimedAt = Date.now();
      return got.length === 1;
    }, 'delayed task');
    expect(claimedAt - pushedAt).toBeGreaterThanOrEqual(400);
  });

  it('does not queue a pending taskId twice, and queues it again once finished', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    expect(await queue.pushTask({ taskId: 'once', type: 'echo', params: { value: 1 } })).toBe('once');
    expect(await queue.pushTask({ taskId: 'once', type: 'echo', params: { value: 2 } })).toBe('once');
    expect(await queue.getQueueSize()).toBe(1);
    const [task] = await queue.claim(only('echo'), 5);
    expect(task.params).toEqual({ value: 1 });
    await queue.pushTask({ taskId: 'once', type: 'echo' });
    expect(await queue.getQueueSize()).toBe(0);
    await queue.complete(task, 'ok', 1);
    await queue.pushTask({ taskId: 'once', type: 'echo', params: { value: 3 } });
    expect(await queue.getTask('once')).toMatchObject({ status: 'pending', attempts: 0, params: { value: 3 } });
  });

  it('pushTasks stores a batch of 5,000 whole, every optional column filled, a repeated id once', async () => {
    // SQLite binds at most 32,766 values per statement: one INSERT of 4,681 plain tasks failed there
    const { queue } = await boot({ workers: { enabled: false } });
    const inputs = Array.from({ length: 5000 }, (_, i) => ({
      taskId: i === 4999 ? 'bulk-0' : `bulk-${i}`,
      type: 'echo',
      params: { value: i },
      priority: i % 7,
      maxRetries: i % 3,
      delayMs: i % 2 ? 0 : 60_000,
    }));
    const ids = await queue.pushTasks(inputs);
    expect(ids).toEqual(inputs.map((input) => input.taskId));
    expect(await queue.countByStatus()).toMatchObject({ pending: 4999 });
    expect(await queue.getTask('bulk-0')).toMatchObject({ params: { value: 0 }, priority: 0, maxRetries: 0 });
    expect(await queue.getTask('bulk-4998')).toMatchObject({ params: { value: 4998 }, priority: 4998 % 7, maxRetries: 4998 % 3 });
    expect((await queue.getTask('bulk-1001')).runAt.getTime()).toBeLessThanOrEqual(Date.now());
    expect((await queue.getTask('bulk-1002')).runAt.getTime()).toBeGreaterThan(Date.now() + 50_000);
  });

  it('pushTasks and pushFlow store 20 tasks of params at queue.maxPayloadBytes each whole', async () => {
    // 20 MiB in one INSERT was past MariaDB's max_allowed_packet (16 MB): the driver's error, nothing stored
    const { queue } = await boot({ workers: { enabled: false } });
    const big = (i: number) => ({ value: `${i}:`.padEnd(1024 * 1024 - 12, 'x') });
    expect(Buffer.byteLength(JSON.stringify(big(10)))).toBe(1024 * 1024);
    const ids = await queue.pushTasks(Array.from({ length: 20 }, (_, i) => ({ type: 'echo', params: big(i), delayMs: 60_000 })));
    const flow = await queue.pushFlow({ type: 'echo', params: big(20), children: Array.from({ length: 20 }, (_, i) => ({ type: 'echo', params: big(21 + i), delayMs: 60_000 })) });
    expect(await queue.countByStatus()).toMatchObject({ pending: 40, waiting: 1 });
    expect((await queue.getTask(ids[19])).params).toEqual(big(19));
    expect((await queue.getTask(flow.children[19].taskId)).params).toEqual(big(40));
  });

  it('retries with exponential backoff and then succeeds', async () => {
    const { queue, handlers } = await boot();
    const events: TaskEvent[] = [];
    queue.events$.subscribe((e) => events.push(e));
    const id = await queue.pushTask({ type: 'flaky' });
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'flaky succeeded');
    expect(await queue.getTask(id)).toMatchObject({ attempts: 3, result: 'third time lucky' });
    const starts = handlers.starts.get(id)!;
    expect(starts).toHaveLength(3);
    expect(starts[1] - starts[0]).toBeGreaterThanOrEqual(100 - 5);
    expect(starts[2] - starts[1]).toBeGreaterThanOrEqual(200 - 5);
    expect(events.filter((e) => e.taskId === id && e.kind === 'retrying').map((e) => e.error)).toEqual(['flaky try 1', 'flaky try 2']);
  });

  it('keeps a task whose attempts ran out as dead with its error, and retryTask runs it again', async () => {
    const { queue, handlers } = await boot();
    const id = await queue.pushTask({ type: 'broken' });
    await waitFor(async () => (await queue.getTask(id)).status === 'dead', 'dead');
    expect(await queue.getTask(id)).toMatchObject({ status: 'dead', attempts: 2, error: 'always broken' });
    expect((await queue.listTasks({ status: 'dead' })).items.map((t) => t.taskId)).toEqual([id]);
    await queue.retryTask(id);
    await waitFor(() => handlers.starts.get(id)!.length === 4, 'two more tries');
    await waitFor(async () => (await queue.getTask(id)).status === 'dead', 'dead again');
    expect((await queue.getTask(id)).attempts).toBe(2);
    await expect(Promise.resolve().then(() => queue.retryTask('missing'))).rejects.toBeInstanceOf(TaskNotFoundError);
    // a task that did not fail is refused, in the words every refusal uses: the field, its value, then why
    const done = await queue.pushTask({ type: 'echo' });
    await waitFor(async () => (await queue.getTask(done)).status === 'succeeded', 'the echo to succeed');
    const refused = await Promise.resolve().then(() => queue.retryTask(done)).catch((err: unknown) => err);
    expect(refused).toMatchObject({ name: 'InvalidArgumentError', field: 'taskId', message: `taskId '${done}': the task is succeeded; only dead or failed tasks can be retried` });
  });

  it('lists a task retried with retryTask as pushed now, newest first', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    await queue.pushTask({ taskId: 'a', type: 'echo' });
    const [task] = await queue.claim(only('echo'), 1);
    await queue.fail(task, new Error('no'), null, 1);
    await waitFor(async () => (await queue.getTask('a')).status === 'dead', 'dead');
    await queue.pushTask({ taskId: 'b', type: 'echo' });
    expect((await queue.listTasks()).items.map((t) => t.taskId)).toEqual(['b', 'a']);
    await queue.retryTask('a');
    expect((await queue.listTasks()).items.map((t) => t.taskId)).toEqual(['a', 'b']);
  });

  it('lists an id pushed again after a cancel as pushed now, newest first, and its cancelled record keeps its singletonKey', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    await queue.pushTask({ taskId: 'a', type: 'echo', singletonKey: 'only-a' });
    await queue.pushTask({ taskId: 'b', type: 'echo' });
    expect(await queue.cancelTask('a')).toBe(true);
    expect(await queue.getTask('a')).toMatchObject({ status: 'cancelled', singletonKey: 'only-a' });
    expect((await queue.listTasks()).items.map((t) => t.taskId)).toEqual(['b', 'a']);
    expect(await queue.pushTask({ taskId: 'a', type: 'echo' })).toBe('a');
    expect((await queue.listTasks()).items.map((t) => [t.taskId, t.status])).toEqual([
      ['a', 'pending'],
      ['b', 'pending'],
    ]);
  });

  it('a task of maxRetries 0 dies on its first failure', async () => {
    const { queue, handlers } = await boot();
    const id = await queue.pushTask({ type: 'broken', maxRetries: 0 });
    await waitFor(async () => (await queue.getTask(id)).status === 'dead', 'dead');
    expect(handlers.starts.get(id)).toHaveLength(1);
  });

  it('cancels a pending task; a finished one cannot be cancelled, a running one only asked to stop', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    const events: TaskEvent[] = [];
    queue.events$.subscribe((e) => events.push(e));
    await queue.pushTask({ taskId: 'c1', type: 'echo', delayMs: 60_000 });
    await queue.pushTask({ taskId: 'c2', type: 'echo' });
    expect(await queue.cancelTask('c1')).toBe(true);
    expect((await queue.getTask('c1')).status).toBe('cancelled');
    // events$ (and the metrics' listeners) name the cancelled task's type
    expect(events.filter((e) => e.taskId === 'c1').map((e) => [e.kind, e.type])).toEqual([['queued', 'echo'], ['cancelled', 'echo']]);
    expect(await queue.cancelTask('c1')).toBe(false);
    const [running] = await queue.claim(only('echo'), 1);
    expect(running.taskId).toBe('c2');
    expect(await queue.cancelTask('c2', { running: false })).toBe(false);
    // a running task is asked to stop (its worker's signal aborts); claimed by hand here, it has none and stays running
    expect(await queue.cancelTask('c2')).toBe(true);
    expect((await queue.getTask('c2')).status).toBe('running');
    await expect(Promise.resolve().then(() => queue.cancelTask('nope'))).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(Promise.resolve().then(() => queue.getTask('nope'))).rejects.toBeInstanceOf(TaskNotFoundError);
  });

  it('lists tasks newest first by status and type, page by page', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    for (let i = 0; i < 5; i++) await queue.pushTask({ taskId: `e${i}`, type: 'echo' });
    await queue.pushTask({ taskId: 'f0', type: 'flaky' });
    const first = await queue.listTasks({ type: 'echo', limit: 3 });
    expect(first.items.map((t) => t.taskId)).toEqual(['e4', 'e3', 'e2']);
    const second = await queue.listTasks({ type: 'echo', limit: 3, cursor: first.nextCursor });
    expect(second.items.map((t) => t.taskId)).toEqual(['e1', 'e0']);
    expect(second.nextCursor).toBeUndefined();
    expect((await queue.listTasks({ status: 'pending' })).items).toHaveLength(6);
    expect(await queue.countByStatus()).toEqual({ pending: 6, running: 0, succeeded: 0, failed: 0, dead: 0, cancelled: 0, waiting: 0 });
    await expect(Promise.resolve().then(() => queue.listTasks({ limit: 0 }))).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it.each([
    ['limit 0', { limit: 0 }, 'limit'],
    ['limit 1.5', { limit: 1.5 }, 'limit'],
    ['limit 10001', { limit: 10_001 }, 'limit'],
    ['a cursor it did not issue', { cursor: 'e3' }, 'cursor'],
    ['a cursor past every push order', { cursor: '9'.repeat(17) }, 'cursor'],
    ['a cursor with an id no push could make', { cursor: '12:a\u0000b' }, 'cursor'],
    ['a status the library does not have', { status: 'bogus' }, 'status'],
    // MariaDB's status column compares case-insensitively: this listed every pending task there and none elsewhere
    ['a status in capitals', { status: 'PENDING' }, 'status'],
    ['statuses as an array', { status: ['pending'] }, 'status'],
    ['a type that is an object', { type: {} }, 'type'],
    ['a type with a NUL', { type: 'a\u0000b' }, 'type'],
    ['null for the filter', null, 'filter'],
  ] as const)('listTasks refuses %s the same way on every backend', async (_name, filter, field) => {
    const { queue } = await boot({ workers: { enabled: false } });
    await queue.pushTask({ taskId: 'p1', type: 'echo' });
    const error = await Promise.resolve()
      .then(() => queue.listTasks(filter as never))
      .then(() => null, (err: unknown) => err);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ field });
    // the largest page is allowed everywhere, and null reads as not given
    await expect(Promise.resolve(queue.listTasks({ limit: 10_000, status: null, type: null } as never))).resolves.toMatchObject({ items: [{ taskId: 'p1' }] });
  });

  it.each([null, undefined, 7, NaN, {}, Object.create(null), { toString: () => ({}) }, Symbol('seven'), BigInt(7), 'a\u0000b'])('an id no push could make (%p) is an unknown task to every status call', async (taskId) => {
    const { queue } = await boot({ workers: { enabled: false } });
    // MySQL compares a number with a string column as numbers: '7-report' would match 7
    await queue.pushTask({ taskId: '7-report', type: 'echo' });
    const calls: Array<() => unknown> = [
      () => queue.getTask(taskId as never),
      () => queue.getFlow(taskId as never),
      () => queue.deleteTask(taskId as never),
      () => queue.cancelTask(taskId as never),
      () => queue.retryTask(taskId as never),
      () => queue.onTaskFinished(taskId as never),
    ];
    for (const call of calls) {
      await expect(Promise.resolve().then(call)).rejects.toBeInstanceOf(TaskNotFoundError);
    }
    expect((await queue.getTask('7-report')).status).toBe('pending');
  });

  it.each([
    ['a string', 'running', 'options'],
    ['an array', [false], 'options'],
    ["running: 'false'", { running: 'false' }, 'options.running'],
    ['running: 0', { running: 0 }, 'options.running'],
  ] as const)('cancelTask refuses options that are %s with InvalidArgumentError naming the field, and cancels nothing', async (_name, options, field) => {
    const { queue } = await boot({ workers: { enabled: false } });
    const id = await queue.pushTask({ type: 'echo' });
    const error = await Promise.resolve()
      .then(() => queue.cancelTask(id, options as never))
      .then(() => null, (err: unknown) => err);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ field });
    expect((await queue.getTask(id)).status).toBe('pending');
    // checked before the id, alike everywhere
    await expect(Promise.resolve().then(() => queue.cancelTask('no-such-task', options as never))).rejects.toBeInstanceOf(InvalidArgumentError);
    // null, undefined and {} read as the default
    await expect(Promise.resolve(queue.cancelTask(id, null as never))).resolves.toBe(true);
  });

  it('refuses params that are not JSON-serializable or too large, writing nothing', async () => {
    const { queue } = await boot({ workers: { enabled: false }, queue: { maxPayloadBytes: 1000 } });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const params of [{ f: () => 1 }, cyclic, { big: BigInt(2) }, { s: 'x'.repeat(2000) }]) {
      await expect(Promise.resolve().then(() => queue.pushTask({ type: 'echo', params }))).rejects.toBeInstanceOf(InvalidTaskError);
    }
    await expect(Promise.resolve().then(() => queue.pushTask({ type: '' }))).rejects.toThrow(/type must be a non-empty string/);
    expect(await queue.getQueueSize()).toBe(0);
    expect((await queue.listTasks()).items).toEqual([]);
  });

  it('public store: values with and without TTL, expiry without the sweep, cleanup count', async () => {
    const { queue } = await boot();
    await queue.setPublic('bilibili_cookie', 'SESSDATA=x', 0.3);
    const given = { retries: 3, tags: ['a'] };
    await queue.setPublic('config', given);
    await queue.setPublic('short', 1, 0.3);
    expect(await queue.getPublic('bilibili_cookie')).toBe('SESSDATA=x');
    // neither the object given nor one read is the stored value: changing them changes no later read
    given.tags.push('given');
    const read = (await queue.getPublic<{ retries: number; tags: string[] }>('config'))!;
    expect(read).toEqual({ retries: 3, tags: ['a'] });
    read.retries = 0;
    read.tags.push('read');
    expect(await queue.getPublic('config')).toEqual({ retries: 3, tags: ['a'] });
    expect((await queue.listKeys()).sort()).toEqual(['bilibili_cookie', 'config', 'short']);
    await queue.setPublic('config', { retries: 4 });
    expect(await queue.getPublic('config')).toEqual({ retries: 4 });
    await waitFor(async () => (await queue.getPublic('bilibili_cookie')) === null, 'TTL expiry', 5000);
    await waitFor(async () => (await queue.listKeys()).length === 1, 'both short keys expired', 5000);
    expect(await queue.listKeys()).toEqual(['config']);
    expect(await queue.getStoreSize()).toBe(1);
    expect(await queue.cleanup()).toBeGreaterThanOrEqual(1);
    expect(await queue.deletePublic('config')).toBe(true);
    expect(await queue.deletePublic('config')).toBe(false);
    expect(await queue.getPublic('missing')).toBeNull();
    await expect(Promise.resolve().then(() => queue.setPublic('k', 1, -1))).rejects.toBeInstanceOf(InvalidArgumentError);
    await queue.setPublic('a', 1);
    await queue.clearStore();
    expect(await queue.getStoreSize()).toBe(0);
  });

  it('public store: a delete racing a set of an expired key ends as one of the two orders, never losing the new value', async () => {
    const { queue } = await boot();
    for (let round = 0; round < 30; round++) {
      const key = `race-${round}`;
      await queue.setPublic(key, 'old', 0.001);
      await waitFor(async () => (await queue.getPublic(key)) === null, 'the key expired', 2000, 1);
      const [deleted] = await Promise.all([queue.deletePublic(key), queue.setPublic(key, 'new')]);
      const after = await queue.getPublic(key);
      // the delete first: nothing live to delete, and the set's value stays; the set first: deleted, gone
      expect(deleted ? after === null : after === 'new').toBe(true);
    }
  });

  it('onIdle resolves once every pushed task has run', async () => {
    const { queue, handlers } = await boot({ workers: { concurrency: 4 } });
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) ids.push(await queue.pushTask({ type: 'echo', params: { value: i } }));
    await queue.onIdle();
    expect(ids.every((id) => handlers.starts.get(id)?.length === 1)).toBe(true);
    expect(await queue.getQueueSize()).toBe(0);
  });
});
