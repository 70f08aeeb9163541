/**
 * Singleton keys, debounce and throttle (issue 17) on every backend: memory,
 * Redis and each database of DATABASES. Workers are off: a test starts a
 * task by claiming it, as a worker would, so what is pending is its to say.
 */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { InvalidTaskError, type PushTaskInput, QueueSchedulerModule, TaskNotFoundError, TaskQueue } from 'nestjs-queue-scheduler';
import type { ClaimFilter, QueueConsumer } from 'nestjs-queue-scheduler/queue/queue-consumer';
import { DataSource } from 'typeorm';
import { databaseFor, DATABASES, useTestDatabase } from './support/databases';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

type Backend = 'memory' | 'redis' | (typeof DATABASES)[number];
const BACKENDS: Backend[] = ['memory', 'redis', ...DATABASES];
const only = (type: string): ClaimFilter => ({ types: [type], unknownTypes: false, handled: new Set([type]) });
/** Slack for the real clock between a push and the test's reading of it (a busy CI machine included). */
const CLOCK_SLACK_MS = 1500;

describe.each(BACKENDS)('singleton keys on %s', (backend) => {
  const db = useTestDatabase(databaseFor(backend));
  let app: INestApplication | undefined;
  let prefix = '';
  let queue: TaskQueue & QueueConsumer;

  beforeEach(async () => {
    if (backend === 'redis') prefix = testPrefix();
    const imports = backend === 'redis'
      ? [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, workers: { enabled: false }, queue: { backend: 'redis', connection: REDIS, prefix } })]
      : db.present
      ? [
          TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
          QueueSchedulerModule.forRoot({ logLevel: 'fatal', workers: { enabled: false }, queue: { backend: 'database' } }),
        ]
      : [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, workers: { enabled: false } })];
    app = (await Test.createTestingModule({ imports }).compile()).createNestApplication({ logger: false });
    if (db.present) {
      const ds = app.get(DataSource);
      for (const table of ['task_queue', 'task_singleton']) await ds.query(`DELETE FROM ${table}`);
    }
    await app.init();
    queue = app.get<TaskQueue, TaskQueue & QueueConsumer>(TaskQueue);
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    if (prefix) await dropPrefix(prefix);
  });

  const pending = async (): Promise<number> => (await queue.countByStatus()).pending;

  it('a pending task holds its key: a push with it stores nothing and returns its id; once started, the next push is queued', async () => {
    const first = await queue.pushTask({ type: 'job', params: { n: 1 }, singletonKey: 'report' });
    expect(await queue.pushTask({ type: 'job', params: { n: 2 }, singletonKey: 'report' })).toBe(first);
    expect(await queue.pushTask({ type: 'other', params: { n: 3 }, singletonKey: 'report' })).toBe(first);
    expect(await queue.getTask(first)).toMatchObject({ status: 'pending', params: { n: 1 }, singletonKey: 'report' });
    expect(await pending()).toBe(1);

    expect((await queue.claim(only('job'), 10)).map((t) => t.taskId)).toEqual([first]);
    const second = await queue.pushTask({ type: 'job', params: { n: 4 }, singletonKey: 'report' });
    expect(second).not.toBe(first);
    expect(await queue.getTask(second)).toMatchObject({ status: 'pending', params: { n: 4 }, singletonKey: 'report' });
    expect(await queue.pushTask({ type: 'job', params: { n: 5 }, singletonKey: 'report' })).toBe(second);
    // another key is another slot; a push without a key is untouched by any
    const elsewhere = await queue.pushTask({ type: 'job', singletonKey: 'Report' });
    const plain = await queue.pushTask({ type: 'job' });
    expect(new Set([first, second, elsewhere, plain]).size).toBe(4);
    expect(await pending()).toBe(3);
    expect((await queue.getTask(plain)).singletonKey).toBeUndefined();
  });

  it('a task waiting for its retry holds no key; one given back at shutdown is pending and holds it again', async () => {
    const first = await queue.pushTask({ type: 'job', singletonKey: 'retry' });
    const [task] = await queue.claim(only('job'), 1);
    await queue.fail(task, new Error('try again later'), new Date(Date.now() + 60_000), 1);
    await waitFor(async () => (await queue.getTask(first)).status === 'failed', 'the retry is recorded');
    const second = await queue.pushTask({ type: 'job', singletonKey: 'retry' });
    expect(second).not.toBe(first);
    const [running] = await queue.claim(only('job'), 1);
    expect(running.taskId).toBe(second);
    await queue.release(running);
    await waitFor(async () => (await queue.getTask(second)).status === 'pending', 'the task is given back');
    expect(await queue.pushTask({ type: 'job', singletonKey: 'retry' })).toBe(second);
  });

  it('a dead task queued again by retryTask holds its key again while no other holds it; beside a newer holder both are pending, the key names the newer', async () => {
    const dead = await queue.pushTask({ type: 'job', singletonKey: 'again' });
    const [task] = await queue.claim(only('job'), 1);
    await queue.fail(task, new Error('gave up'), null, 1);
    await waitFor(async () => (await queue.getTask(dead)).status === 'dead', 'the task to be dead');
    await queue.retryTask(dead);
    expect(await queue.pushTask({ type: 'job', singletonKey: 'again' })).toBe(dead);
    const [retried] = await queue.claim(only('job'), 1);
    await queue.fail(retried, new Error('gave up again'), null, 1);
    await waitFor(async () => (await queue.getTask(dead)).status === 'dead', 'the task to be dead again');
    const newer = await queue.pushTask({ type: 'job', singletonKey: 'again' });
    expect(newer).not.toBe(dead);
    await queue.retryTask(dead);
    expect((await queue.getTask(dead)).status).toBe('pending');
    expect(await queue.pushTask({ type: 'job', singletonKey: 'again' })).toBe(newer);
    expect(await pending()).toBe(2);
  });

  it('a cancelled task gives its key back', async () => {
    const first = await queue.pushTask({ type: 'job', singletonKey: 'k' });
    expect(await queue.cancelTask(first)).toBe(true);
    const second = await queue.pushTask({ type: 'job', singletonKey: 'k' });
    expect(second).not.toBe(first);
    expect(await pending()).toBe(1);
  });

  it('with a taskId: the key decides first, then the id rule; an accepted push gives the key to that id', async () => {
    expect(await queue.pushTask({ taskId: 'a', type: 'job', params: { n: 1 }, singletonKey: 'k' })).toBe('a');
    expect(await queue.pushTask({ taskId: 'b', type: 'job', params: { n: 2 }, singletonKey: 'k' })).toBe('a');
    await expect(Promise.resolve().then(() => queue.getTask('b'))).rejects.toBeInstanceOf(TaskNotFoundError);
    expect(await queue.pushTask({ taskId: 'a', type: 'job', params: { n: 3 }, singletonKey: 'k' })).toBe('a');
    expect(await queue.getTask('a')).toMatchObject({ params: { n: 1 } });
    expect(await pending()).toBe(1);
  });

  it('pushTasks applies each push its rule in order, across keys', async () => {
    const ids = await queue.pushTasks([
      { type: 'job', params: { n: 0 }, singletonKey: 'x' },
      { type: 'job', params: { n: 1 }, singletonKey: 'y' },
      { type: 'job', params: { n: 2 }, singletonKey: 'x' },
      { type: 'job', params: { n: 3 } },
      { type: 'job', params: { n: 4 }, singletonKey: 'y' },
    ]);
    expect(ids[2]).toBe(ids[0]);
    expect(ids[4]).toBe(ids[1]);
    expect(new Set(ids).size).toBe(3);
    expect(await pending()).toBe(3);
  });

  it('debounce: a push while pending replaces the params and moves the start back', async () => {
    const t0 = Date.now();
    const id = await queue.pushTask({ type: 'job', params: { n: 1 }, singletonKey: 'save', debounceMs: 60_000 });
    const first = await queue.getTask(id);
    expect(first.runAt.getTime()).toBeGreaterThanOrEqual(t0 + 60_000);
    expect(first.runAt.getTime()).toBeLessThan(Date.now() + 60_000 + CLOCK_SLACK_MS);
    // a later push moves the start to its own time plus the window
    await waitFor(() => Date.now() > first.runAt.getTime() - 60_000 + 5, 'the clock moved on');
    const t1 = Date.now();
    expect(await queue.pushTask({ type: 'job', params: { n: 2 }, singletonKey: 'save', debounceMs: 60_000 })).toBe(id);
    const second = await queue.getTask(id);
    expect(second).toMatchObject({ status: 'pending', params: { n: 2 }, singletonKey: 'save' });
    expect(second.runAt.getTime()).toBeGreaterThan(first.runAt.getTime());
    expect(second.runAt.getTime()).toBeGreaterThanOrEqual(t1 + 60_000);
    expect(await pending()).toBe(1);
    expect(await queue.claim(only('job'), 10)).toEqual([]);
  });

  it('debounce: a task already due and not yet taken is still folded into, and no longer due', async () => {
    const id = await queue.pushTask({ type: 'job', params: { n: 1 }, singletonKey: 'due', debounceMs: 1 });
    const { runAt } = await queue.getTask(id);
    await waitFor(() => Date.now() > runAt.getTime(), 'the task is due');
    expect(await queue.pushTask({ type: 'job', params: { n: 2 }, singletonKey: 'due', debounceMs: 60_000 })).toBe(id);
    expect(await queue.getTask(id)).toMatchObject({ status: 'pending', params: { n: 2 } });
    expect(await queue.claim(only('job'), 10)).toEqual([]);
  });

  it('debounce: the task runs once, with the last params, once the window after the last push ended', async () => {
    const WINDOW = 300;
    const id = await queue.pushTask({ type: 'job', params: { n: 1 }, singletonKey: 'flush', debounceMs: WINDOW, priority: 7 });
    const last = Date.now();
    expect(await queue.pushTask({ type: 'job', params: { n: 2 }, singletonKey: 'flush', debounceMs: WINDOW })).toBe(id);
    let claimed: Awaited<ReturnType<typeof queue.claim>> = [];
    await waitFor(async () => (claimed = await queue.claim(only('job'), 10)).length > 0, 'the debounced task is due', 10_000, 20);
    expect(Date.now()).toBeGreaterThanOrEqual(last + WINDOW);
    expect(claimed.map((t) => ({ taskId: t.taskId, params: t.params, priority: t.priority }))).toEqual([{ taskId: id, params: { n: 2 }, priority: 7 }]);
    expect(await pending()).toBe(0);
  });

  it('throttle: pushes within the window are dropped, whatever became of the accepted task; after it, one is accepted', async () => {
    const WINDOW = 400;
    const t0 = Date.now();
    const first = await queue.pushTask({ type: 'job', params: { n: 0 }, singletonKey: 'mail', throttleMs: WINDOW });
    expect(await queue.pushTask({ type: 'job', params: { n: 1 }, singletonKey: 'mail', throttleMs: WINDOW })).toBe(first);
    // started and finished: still inside the window, still dropped
    const [task] = await queue.claim(only('job'), 1);
    await queue.complete(task, null, 1);
    let next = first;
    let n = 2;
    await waitFor(async () => {
      next = await queue.pushTask({ type: 'job', params: { n: n++ }, singletonKey: 'mail', throttleMs: WINDOW });
      return next !== first;
    }, 'a push after the window', 10_000, 20);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(WINDOW);
    expect(await queue.getTask(next)).toMatchObject({ status: 'pending', singletonKey: 'mail' });
    expect(await queue.pushTask({ type: 'job', singletonKey: 'mail', throttleMs: WINDOW })).toBe(next);
    expect(await pending()).toBe(1);
  });

  it('refuses a bad key or window naming the field and the value, and writes nothing (a bad one in a batch queues none)', async () => {
    const bad: Array<[Partial<PushTaskInput>, string, RegExp]> = [
      [{ singletonKey: '' }, 'singletonKey', /singletonKey must be a non-empty string.*got ''/],
      [{ singletonKey: 42 as never }, 'singletonKey', /singletonKey .*got 42/],
      [{ singletonKey: 'a\0b' }, 'singletonKey', /singletonKey must not contain a NUL/],
      [{ singletonKey: '\ud800' }, 'singletonKey', /singletonKey must not contain a lone surrogate/],
      [{ singletonKey: 'k'.repeat(192) }, 'singletonKey', /singletonKey .*it has 192/],
      [{ singletonKey: 'k', debounceMs: 0 }, 'debounceMs', /debounceMs must be an integer from 1 to 2147483647, got 0/],
      [{ singletonKey: 'k', debounceMs: 1.5 }, 'debounceMs', /got 1\.5/],
      [{ singletonKey: 'k', throttleMs: -1 }, 'throttleMs', /got -1/],
      [{ singletonKey: 'k', throttleMs: 2 ** 31 }, 'throttleMs', /got 2147483648/],
      [{ singletonKey: 'k', throttleMs: '5' as never }, 'throttleMs', /got '5'/],
      [{ singletonKey: 'k', debounceMs: 5, throttleMs: 5 }, 'throttleMs', /throttleMs cannot be given with debounceMs/],
      [{ debounceMs: 5 }, 'debounceMs', /debounceMs needs singletonKey, got 5/],
      [{ throttleMs: 5 }, 'throttleMs', /throttleMs needs singletonKey, got 5/],
    ];
    for (const [extra, field, message] of bad) {
      const error: unknown = await Promise.resolve()
        .then(() => queue.pushTask({ type: 'job', ...extra }))
        .then(() => undefined, (err: unknown) => err);
      expect(error).toBeInstanceOf(InvalidTaskError);
      expect({ field: (error as InvalidTaskError).field, message: (error as Error).message }).toEqual({ field, message: expect.stringMatching(message) });
    }
    const batch: unknown = await Promise.resolve()
      .then(() => queue.pushTasks([{ type: 'job', singletonKey: 'fine' }, { type: 'job', singletonKey: 'k', debounceMs: -5 }]))
      .then(() => undefined, (err: unknown) => err);
    expect(batch).toMatchObject({ field: 'inputs[1].debounceMs' });
    expect(await queue.countByStatus()).toEqual({ pending: 0, running: 0, failed: 0, succeeded: 0, dead: 0, cancelled: 0, waiting: 0 });
    // nothing was taken either: the keys are free
    const id = await queue.pushTask({ type: 'job', singletonKey: 'fine' });
    expect(await queue.getTask(id)).toMatchObject({ singletonKey: 'fine' });
  });

  it('counts a key in characters, as the databases do: 191 emoji are stored as given, 192 refused naming the count', async () => {
    const key = '😀'.repeat(191);
    const type = '🚀'.repeat(191);
    const id = await queue.pushTask({ taskId: '📦'.repeat(191), type, singletonKey: key });
    expect(id).toBe('📦'.repeat(191));
    expect(await queue.getTask(id)).toMatchObject({ taskId: id, type, singletonKey: key, status: 'pending' });
    expect(await queue.pushTask({ type, singletonKey: key })).toBe(id);
    await expect(Promise.resolve().then(() => queue.pushTask({ type: 'job', singletonKey: '😀'.repeat(192) }))).rejects.toThrow(/singletonKey .*it has 192\)/);
    expect(await pending()).toBe(1);
  });

  it('1,000 concurrent pushes with one key leave exactly one pending task, and all return its id', async () => {
    const ids = await Promise.all(Array.from({ length: 1000 }, (_, n) => queue.pushTask({ type: 'job', params: { n }, singletonKey: 'hot' })));
    expect(new Set(ids).size).toBe(1);
    expect(await pending()).toBe(1);
    expect(await queue.getTask(ids[0])).toMatchObject({ status: 'pending', singletonKey: 'hot' });
  });

  it('a debounce push folded into a task while workers claim runs with its params: a push that returns an id stored its params there', async () => {
    const ran = new Map<string, unknown>();
    let pushing = true;
    const claimer = (async () => {
      while (pushing) {
        for (const t of await queue.claim(only('fold'), 50)) ran.set(t.taskId, t.params);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const rounds: Array<{ a: string; b: string; ids: [string, string] }> = [];
    for (let group = 0; group < 20; group++) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const n = group * 20 + i;
          const [a, b] = [`r${n}-a`, `r${n}-b`];
          const ids = (await Promise.all([a, b].map((taskId) => queue.pushTask({ taskId, type: 'fold', params: { taskId }, singletonKey: `fold-${n}`, debounceMs: 1 })))) as [string, string];
          rounds.push({ a, b, ids });
        }),
      );
    }
    await waitFor(async () => {
      for (const t of await queue.claim(only('fold'), 500)) ran.set(t.taskId, t.params);
      return (await pending()) === 0;
    }, 'every task claimed', 10_000);
    pushing = false;
    await claimer;
    const lost: string[] = [];
    for (const { ids } of rounds) {
      // both returned one id: the fold came after the task was accepted, so its params replaced the creator's
      if (ids[0] !== ids[1]) continue;
      const folded = ids[0].endsWith('-a') ? ids[0].replace(/-a$/, '-b') : ids[0].replace(/-b$/, '-a');
      if ((ran.get(ids[0]) as { taskId?: string } | undefined)?.taskId !== folded) lost.push(`${folded} → ${ids[0]} ran ${JSON.stringify(ran.get(ids[0]))}`);
    }
    expect(lost).toEqual([]);
    // and nothing else was lost: every round's pushes ran, as one task or two
    for (const { ids } of rounds) for (const id of new Set(ids)) expect(ran.has(id)).toBe(true);
  });

  it('concurrent debounced pushes with one key leave one pending task holding one of their params', async () => {
    const ids = await Promise.all(Array.from({ length: 200 }, (_, n) => queue.pushTask({ type: 'job', params: { n }, singletonKey: 'burst', debounceMs: 60_000 })));
    expect(new Set(ids).size).toBe(1);
    expect(await pending()).toBe(1);
    const { params } = await queue.getTask(ids[0]);
    expect((params as { n: number }).n).toBeGreaterThanOrEqual(0);
  });
});
