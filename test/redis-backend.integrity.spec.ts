/**
 * @shares-machine it waits on delays, retention and stalled checks of a second; its reads of pending tasks have a second's margin
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Job, Queue, QueueKeys, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { type ChildResult, QueueSchedulerModule, type QueueSchedulerModuleOptions, RedisQueueService, TaskContext, TaskHandler, TaskLostError, TaskNotFoundError } from 'nestjs-queue-scheduler';
import { recordOf } from 'nestjs-queue-scheduler/queue/redis/redis-jobs';
import { jobIdOf, queueNameOf } from 'nestjs-queue-scheduler/queue/redis/redis-keys';
import { RedisTypeRelease } from 'nestjs-queue-scheduler/queue/redis/redis-type-release';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(30_000);

/** Every key name BullMQ keeps beside a queue's job hashes, and the first part of its other keys (per job, metrics, schedulers). */
const BULLMQ_NAMES = [...Object.keys(new QueueKeys('p').getKeys('q')).filter(Boolean), 'metrics', 'lock', 'logs', 'jobschedulers'];

@Injectable()
class Handlers {
  readonly ran: Array<{ taskId: string; attempt: number }> = [];

  @TaskHandler('note')
  note(_params: unknown, ctx: TaskContext): string {
    this.ran.push({ taskId: ctx.taskId, attempt: ctx.attempt });
    return ctx.taskId;
  }

  @TaskHandler('boom')
  boom(): never {
    throw new Error('boom');
  }

  @TaskHandler('gone')
  gone(_params: unknown, ctx: TaskContext): void {
    this.ran.push({ taskId: ctx.taskId, attempt: ctx.attempt });
  }

  /** A flow child that ends when the test says so (`release`). */
  release!: () => void;
  private readonly held = new Promise<void>((resolve) => (this.release = resolve));

  @TaskHandler('held')
  async hold(): Promise<string> {
    await this.held;
    return 'held';
  }

  joined?: Record<string, ChildResult>;

  @TaskHandler('join')
  async join(_params: unknown, ctx: TaskContext): Promise<void> {
    this.joined = await ctx.childResults();
  }
}

let prefix = '';
let apps: INestApplication[] = [];
let redis: IORedis;

beforeAll(() => {
  redis = new IORedis(REDIS);
});

afterAll(() => redis.disconnect());

beforeEach(() => {
  prefix = testPrefix();
});

afterEach(async () => {
  jest.restoreAllMocks();
  for (const app of apps.reverse()) await app.close();
  apps = [];
  await dropPrefix(prefix);
});

async function boot(options: QueueSchedulerModuleOptions = {}, handlers = true) {
  const ref = await Test.createTestingModule({
    imports: [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, ...options, queue: { backend: 'redis', connection: REDIS, prefix, pollIntervalMs: 50, ...options.queue } })],
    providers: handlers ? [Handlers] : [],
  }).compile();
  const app = ref.createNestApplication({ logger: false });
  await app.init();
  apps.push(app);
  return { app, queue: app.get(RedisQueueService), handlers: handlers ? app.get(Handlers) : undefined };
}

async function keysOf(pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found.sort();
}

const typeKeys = (type: string) => keysOf(`${prefix}:${queueNameOf(type)}:*`);

describe("task ids equal to BullMQ's own key names", () => {
  /** The task id of the job stored under the task's job id; and no job sits where BullMQ keeps a structure of that name. */
  async function storedUnder(taskId: string): Promise<string | undefined> {
    const bullmqsPlace = `${prefix}:${queueNameOf('note')}:${taskId}`;
    if ((await redis.type(bullmqsPlace)) === 'hash') expect(await redis.hexists(bullmqsPlace, 'data')).toBe(0);
    const data = await redis.hget(`${prefix}:${queueNameOf('note')}:${jobIdOf(taskId)}`, 'data');
    return data ? (JSON.parse(data) as { taskId: string }).taskId : undefined;
  }

  it.each(BULLMQ_NAMES)("'%s' is stored under exactly that id, runs, reads back, and its type keeps working", async (name) => {
    const { queue, handlers } = await boot();
    expect(await queue.pushTask({ taskId: name, type: 'note' })).toBe(name);
    expect(await storedUnder(name)).toBe(name);
    await queue.pushTask({ taskId: 'ordinary', type: 'note' });
    await waitFor(async () => (await queue.countByStatus()).succeeded === 2, 'both ran');
    expect(await queue.getTask(name)).toMatchObject({ taskId: name, type: 'note', status: 'succeeded', result: name });
    expect((await queue.listTasks()).items.map((t) => t.taskId)).toEqual(['ordinary', name]);
    // a finished id is queued anew, and the type still takes new tasks
    await queue.pushTask({ taskId: name, type: 'note' });
    await queue.pushTask({ taskId: 'another', type: 'note' });
    await waitFor(async () => (await queue.countByStatus()).succeeded === 3, 'both ran again');
    expect(handlers!.ran.map((r) => r.taskId)).toEqual([name, 'ordinary', name, 'another']);
  });

  it.each(BULLMQ_NAMES)("'%s' pushed with a delay waits under that id, then runs", async (name) => {
    const { queue, handlers } = await boot();
    // a second: the reads below must see both still pending even when the process stalls a few hundred ms
    const runAt = Date.now() + 1000;
    await queue.pushTask({ taskId: name, type: 'note', delayMs: 1000 });
    await queue.pushTask({ taskId: 'ordinary', type: 'note', delayMs: 1000 });
    const waiting = await queue.getTask(name);
    expect(waiting).toMatchObject({ taskId: name, status: 'pending' });
    expect(waiting.runAt.getTime()).toBeGreaterThanOrEqual(runAt - 50);
    expect(await storedUnder(name)).toBe(name);
    expect(await queue.countByStatus()).toMatchObject({ pending: 2 });
    await waitFor(async () => (await queue.countByStatus()).succeeded === 2, 'both ran after their delay');
    const done = await queue.getTask(name);
    expect(done).toMatchObject({ status: 'succeeded', result: name });
    expect(done.startedAt!.getTime()).toBeGreaterThanOrEqual(runAt - 50);
    expect(handlers!.ran.map((r) => r.taskId).sort()).toEqual([name, 'ordinary'].sort());
  });

  it('a scheduler occurrence id keeps its escaped job id under the namespace', () => {
    expect(jobIdOf('0d9f…-schedule:1767225600000')).toBe('%t0d9f…-schedule%3A1767225600000');
    expect(jobIdOf('42')).toBe('%t42');
    expect(jobIdOf('a%3Ab')).toBe('%ta%253Ab');
  });

  it('jobs stored under the job ids of the previous version are still read, run, and not queued twice', async () => {
    // what the previous version wrote: the job under its bare escaped id, and our index beside it
    const bull = new Queue(queueNameOf('note'), { connection: REDIS, prefix });
    const old: Array<[string, string]> = [['old-1', 'old-1'], ['42', '%i42'], ['sched:1', 'sched%3A1']];
    for (const [taskId, jobId] of old) {
      await bull.add('note', { taskId, params: {}, priority: 0 }, { jobId, priority: 2 ** 20 });
      const seq = await redis.incr(`${prefix}:~seq`);
      await redis.multi().hset(`${prefix}:~index`, taskId, 'note').zadd(`${prefix}:~order`, seq, taskId).sadd(`${prefix}:~types`, 'note').exec();
    }
    await bull.close();
    const { queue } = await boot({ workers: { enabled: false } });
    for (const [taskId] of old) expect(await queue.getTask(taskId)).toMatchObject({ taskId, status: 'pending' });
    await queue.pushTask({ taskId: '42', type: 'note' }); // pending: not queued a second time
    expect(await queue.countByStatus()).toMatchObject({ pending: 3 });
    expect(await queue.cancelTask('sched:1')).toBe(true);
    expect(await queue.trimIndex()).toBe(0);
    expect(await queue.trimIndex()).toBe(0);
    const claimed = await queue.claim({ types: ['note'], unknownTypes: false, handled: new Set(['note']) }, 5);
    expect(claimed.map((t) => t.taskId).sort()).toEqual(['42', 'old-1']);
    for (const task of claimed) await queue.complete(task, 'done', 1);
    expect(await queue.getTask('42')).toMatchObject({ status: 'succeeded', result: 'done' });
    expect(await queue.getTask('sched:1')).toMatchObject({ status: 'cancelled' });
  });
});

describe('a push whose add fails', () => {
  it('throws and stores nothing: no index or order entry is left under the id it was given', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    // hostile data under the type's BullMQ keys: the add script meets a string where it reads a hash
    await redis.set(`${prefix}:${queueNameOf('broken')}:meta`, 'not a hash');
    await expect(queue.pushTask({ type: 'broken' })).rejects.toThrow();
    expect(await redis.hlen(`${prefix}:~index`)).toBe(0);
    expect(await redis.zcard(`${prefix}:~order`)).toBe(0);
    expect((await queue.listTasks()).items).toEqual([]);
  });
});

describe('retentionDays of any length', () => {
  // retentionDays × 86,400 s overflowed to Infinity, which BullMQ cannot send to Redis: every push failed
  it.each([Number.MAX_VALUE, 1e300, 1 / 7])('%s: a push is stored and run, and the retention pass does not fail', async (retentionDays) => {
    const { queue, handlers } = await boot({ queue: { retentionDays } });
    expect(await queue.pushTask({ taskId: `r-${retentionDays}`, type: 'gone' })).toBe(`r-${retentionDays}`);
    await waitFor(() => handlers!.ran.some((r) => r.taskId === `r-${retentionDays}`), 'the task ran');
    await waitFor(async () => (await queue.getTask(`r-${retentionDays}`)).status === 'succeeded', 'the task succeeded');
    await expect(queue.trimIndex()).resolves.toBe(0);
    expect((await queue.getTask(`r-${retentionDays}`)).status).toBe('succeeded');
  });
});

describe('a flow child past retention', () => {
  it("is removed, and its parent, which waited longer, still reads its result (childResults, getFlow)", async () => {
    const retentionDays = 1 / 86_400; // one second
    const { queue, handlers } = await boot({ queue: { retentionDays } });
    const ids = await queue.pushFlow({
      type: 'join',
      children: [{ type: 'note' }, { type: 'held' }, { type: 'boom', onChildFailure: 'continue' }, { type: 'unhandled', onChildFailure: 'continue' }, { type: 'gone' }],
    });
    const [done, held, failed, cancelled, empty] = ids.children.map((c) => c.taskId);
    expect(await queue.cancelTask(cancelled)).toBe(true);
    const ends = [done, failed, empty];
    await waitFor(async () => (await Promise.all(ends.map((id) => queue.getTask(id)))).every((t) => t.status === 'succeeded' || t.status === 'dead'), 'the children but the held one ended');
    const ended = Math.max(...(await Promise.all(ends.map(async (id) => (await queue.getTask(id)).completedAt!.getTime()))));
    await waitFor(() => Date.now() > ended + 1100, 'retention passed');
    // BullMQ removes the jobs past their age when a later job of their queue ends
    for (const type of ['note', 'boom', 'gone']) await queue.pushTask({ taskId: `later-${type}`, type });
    await waitFor(async () => (await queue.countByStatus()).running + (await queue.countByStatus()).pending === 1, 'later tasks ended');
    for (let pass = 0; pass < 3; pass++) await queue.trimIndex();
    await expect(queue.getTask(done)).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(queue.getTask(failed)).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(queue.getTask(cancelled)).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(queue.getTask(empty)).rejects.toBeInstanceOf(TaskNotFoundError);

    handlers!.release();
    await waitFor(async () => (await queue.getTask(ids.taskId)).status === 'succeeded', 'the parent ran');
    expect(handlers!.joined).toEqual({
      [done]: { type: 'note', status: 'succeeded', result: done },
      [held]: { type: 'held', status: 'succeeded', result: 'held' },
      [failed]: { type: 'boom', status: 'dead', error: 'boom' },
      [cancelled]: { type: 'unhandled', status: 'cancelled' },
      [empty]: { type: 'gone', status: 'succeeded' },
    });
    const tree = await queue.getFlow(ids.taskId);
    expect(tree.children.map((c) => [c.taskId, c.type, c.status])).toEqual([
      [done, 'note', 'succeeded'],
      [held, 'held', 'succeeded'],
      [failed, 'boom', 'dead'],
      [cancelled, 'unhandled', 'cancelled'],
      [empty, 'gone', 'succeeded'],
    ]);
  });
});

describe('types with nothing left are released', () => {
  const retentionDays = 1 / 86_400; // one second
  const inTypes = async (type: string) => (await redis.sismember(`${prefix}:~types`, type)) === 1;

  it('finished tasks past retention, then the type: no key of it is left, other types keep theirs', async () => {
    const { app, queue } = await boot({ queue: { retentionDays } });
    for (const taskId of ['g1', 'g2', 'g3']) await queue.pushTask({ taskId, type: 'gone' });
    await queue.pushTask({ taskId: 'k1', type: 'kept' }); // no handler: stays pending
    await waitFor(async () => (await queue.countByStatus()).succeeded === 3, 'the three ran');
    const finished = (await queue.getTask('g3')).completedAt!.getTime();
    await app.close(); // the type is no longer handled anywhere
    apps = [];
    expect((await typeKeys('gone')).length).toBeGreaterThan(0);
    await waitFor(() => Date.now() > finished + 1000, 'retention passed');

    const { queue: later } = await boot({ workers: { enabled: false }, queue: { retentionDays } }, false);
    for (let pass = 0; pass < 3; pass++) await later.trimIndex();
    expect(await typeKeys('gone')).toEqual([]);
    expect(await inTypes('gone')).toBe(false);
    expect(await redis.hexists(`${prefix}:~type-pushed`, 'gone')).toBe(0);
    // what is left under the prefix: our own keys, and the pending type's
    const left = await keysOf(`${prefix}:*`);
    expect(left.filter((k) => !k.startsWith(`${prefix}:~`) && !k.startsWith(`${prefix}:${queueNameOf('kept')}:`))).toEqual([]);
    expect(await inTypes('kept')).toBe(true);
    expect(await redis.hkeys(`${prefix}:~index`)).toEqual(['k1']);
    await expect(later.getTask('g1')).rejects.toBeInstanceOf(TaskNotFoundError);
    expect(await later.countByStatus()).toEqual({ pending: 1, running: 0, succeeded: 0, failed: 0, dead: 0, cancelled: 0, waiting: 0 });
  });

  it('cancelled tasks: the type goes, the cancelled records stay readable', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    for (const taskId of ['c1', 'c2']) await queue.pushTask({ taskId, type: 'dropped', delayMs: 60_000 });
    for (const taskId of ['c1', 'c2']) expect(await queue.cancelTask(taskId)).toBe(true);
    await queue.trimIndex();
    expect(await inTypes('dropped')).toBe(true); // empty once: a push may be between its two steps
    await queue.trimIndex();
    expect(await typeKeys('dropped')).toEqual([]);
    expect(await inTypes('dropped')).toBe(false);
    expect(await queue.getTask('c1')).toMatchObject({ status: 'cancelled', type: 'dropped' });
    expect(await queue.countByStatus()).toMatchObject({ cancelled: 2, pending: 0 });
  });

  /** Holds BullMQ's add (the second step of a push, after our index) until `open` is called. */
  function holdAdds(): { open: () => void } {
    const add = Queue.prototype.add;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    jest.spyOn(Queue.prototype, 'add').mockImplementation(async function (this: Queue, ...args: Parameters<Queue['add']>) {
      await gate;
      return add.apply(this, args);
    });
    return { open };
  }

  /**
   * A producer that runs the passes and handles no type (an instance never
   * releases a type it handles), a worker instance that runs 'gone', and a
   * 'gone' queue emptied by a cancel.
   */
  async function producerAndWorker(queueOptions: QueueSchedulerModuleOptions['queue'] = {}) {
    const { queue } = await boot({ workers: { enabled: false }, queue: queueOptions }, false);
    const { handlers } = await boot({ queue: queueOptions });
    await queue.pushTask({ taskId: 'g0', type: 'gone', delayMs: 60_000 });
    await queue.cancelTask('g0');
    const ran = (taskId: string) => waitFor(() => handlers!.ran.some((r) => r.taskId === taskId), `${taskId} ran`);
    return { queue, handlers: handlers!, ran };
  }

  const indexed = (taskId: string) => waitFor(async () => (await redis.hexists(`${prefix}:~index`, taskId)) === 1, `${taskId} indexed`);

  it('a push indexed between the two passes keeps the type, and is stored, run and counted', async () => {
    const { queue, ran } = await producerAndWorker();
    await queue.trimIndex(); // found empty once
    const { open } = holdAdds();
    const pushed = queue.pushTask({ taskId: 'g1', type: 'gone' });
    await indexed('g1');
    await queue.trimIndex(); // empty again, but a push came in
    expect(await inTypes('gone')).toBe(true);
    open();
    await pushed;
    await ran('g1');
    expect(await queue.getTask('g1')).toMatchObject({ status: 'succeeded' });
    expect(await queue.countByStatus()).toMatchObject({ succeeded: 1 });
  });

  it('a push whose add lands after the release is stored and run all the same', async () => {
    const { queue, ran } = await producerAndWorker();
    const { open } = holdAdds();
    const pushed = queue.pushTask({ taskId: 'g1', type: 'gone' });
    await indexed('g1');
    await queue.trimIndex();
    await queue.trimIndex();
    expect(await inTypes('gone')).toBe(false); // released while the add was held
    open();
    await pushed;
    // (a push held across two passes also loses its index entry, as before: the passes take it for a job removed)
    await ran('g1');
  });

  it('a type released and pushed again works as new', async () => {
    const { queue, ran } = await producerAndWorker();
    await queue.trimIndex();
    await queue.trimIndex();
    expect(await inTypes('gone')).toBe(false);
    await queue.pushTask({ taskId: 'g1', type: 'gone' });
    expect(await inTypes('gone')).toBe(true);
    await ran('g1');
    expect(await queue.countByStatus()).toMatchObject({ succeeded: 1 });
  });

  it('pushes racing a stream of passes that release the type again and again are all stored and run once', async () => {
    const released: string[] = [];
    const pass = RedisTypeRelease.prototype.pass;
    jest.spyOn(RedisTypeRelease.prototype, 'pass').mockImplementation(async function (this: RedisTypeRelease) {
      const types = await pass.call(this);
      released.push(...types);
      return types;
    });
    const { queue, handlers } = await producerAndWorker({ retentionDays: 1 / 86_400 });
    let passing = true;
    const passes = (async () => {
      while (passing) await queue.trimIndex();
    })();
    const ids: string[] = [];
    for (let round = 0; round < 3; round++) {
      const before = released.length;
      // a released type is pushed again at once, by several pushes at a time, while the passes go on
      for (let i = 0; i < 10; i++) {
        ids.push(...(await Promise.all(Array.from({ length: 5 }, (_, j) => queue.pushTask({ taskId: `r${round}-${i}-${j}`, type: 'gone' })))));
      }
      await waitFor(() => released.length > before, `released in round ${round}`);
    }
    passing = false;
    await passes;
    expect(handlers.ran.map((r) => r.taskId).sort()).toEqual([...ids].sort());
  });

  it('an instance does not release a type it handles', async () => {
    const { queue } = await boot({ workers: { enabled: true } });
    await queue.pushTask({ taskId: 'g0', type: 'gone', delayMs: 60_000 });
    await queue.cancelTask('g0');
    for (let pass = 0; pass < 3; pass++) await queue.trimIndex();
    expect(await inTypes('gone')).toBe(true);
  });
});

describe('tries lost with their worker (queue.maxLostTries)', () => {
  const filter = { types: ['lost'], unknownTypes: false, handled: new Set(['lost']) };

  /** Takes the job as a worker that then dies: it never renews the lock nor reports an outcome. */
  async function loseOnce(worker: Worker, queue: RedisQueueService, taskId: string, n: number): Promise<void> {
    const job = (await worker.getNextJob(`dying-${n}`, { block: false })) as Job | undefined;
    expect(job?.data).toMatchObject({ taskId });
    await waitFor(async () => (await queue.getTask(taskId)).status !== 'running', `loss ${n} seen by the stalled check`);
  }

  it.each([0, 1, 2])('with maxLostTries %i: reclaimed after each of that many losses, dead with TaskLostError on the next', async (maxLostTries) => {
    const { queue } = await boot({ workers: { enabled: false }, queue: { leaseMs: 1000, sweepIntervalMs: 100, maxLostTries } });
    expect(await queue.claim(filter, 1)).toEqual([]); // this instance now runs the type's stalled check
    const worker = (queue as unknown as { connection: { workerFor(type: string): Worker } }).connection.workerFor('lost');
    expect(worker.opts.maxStalledCount).toBe(maxLostTries);
    await queue.pushTask({ taskId: 'l1', type: 'lost' });
    const dying = new Worker(queueNameOf('lost'), null, { connection: REDIS, prefix, autorun: false, lockDuration: 1000 });
    try {
      for (let n = 1; n <= maxLostTries; n++) {
        await loseOnce(dying, queue, 'l1', n);
        expect(await queue.getTask('l1')).toMatchObject({ status: 'pending', attempts: 0 });
      }
      await loseOnce(dying, queue, 'l1', maxLostTries + 1);
      const dead: string[] = [];
      const sub = queue.events$.subscribe((e) => e.kind === 'dead' && dead.push(e.error ?? ''));
      expect(await queue.claim(filter, 1)).toEqual([]); // never handed to a handler
      sub.unsubscribe();
      const message = new TaskLostError(maxLostTries + 1, maxLostTries).message;
      expect(message).toMatch(new RegExp(`lost with their worker .*more than queue.maxLostTries \\(${maxLostTries}\\)`));
      expect(await queue.getTask('l1')).toMatchObject({ status: 'dead', error: message });
      expect(dead).toEqual([message]);
      // the tries its error counts, and none for the claim that found it dead without running it
      expect((await queue.getTask('l1')).tries?.map((t) => t.outcome)).toEqual(Array.from({ length: maxLostTries + 1 }, () => 'lost'));
      // retryTask gives it a fresh allowance of lost tries
      await queue.retryTask('l1');
      if (maxLostTries > 0) {
        await loseOnce(dying, queue, 'l1', maxLostTries + 2);
        expect(await queue.getTask('l1')).toMatchObject({ status: 'pending' });
      }
      const [again] = await queue.claim(filter, 1);
      expect(again).toMatchObject({ taskId: 'l1', attempts: 1 });
      await queue.complete(again, null, 1);
      // the retry stored no try for the check that found it dead (it stored one more lost try)
      const lostAfter = maxLostTries > 0 ? 1 : 0;
      expect((await queue.getTask('l1')).tries?.map((t) => t.outcome)).toEqual([...Array.from({ length: maxLostTries + 1 + lostAfter }, () => 'lost'), 'succeeded']);
    } finally {
      await dying.close();
    }
  });

  it('with the default policy (attempts 1, maxLostTries 1) a task whose worker died runs again, on the same attempt', async () => {
    const { queue: producer } = await boot({ workers: { enabled: false } }, false);
    await producer.pushTask({ taskId: 'l1', type: 'gone' });
    const dying = new Worker(queueNameOf('gone'), null, { connection: REDIS, prefix, autorun: false, lockDuration: 1000 });
    expect(((await dying.getNextJob('dying', { block: false })) as Job | undefined)?.data).toMatchObject({ taskId: 'l1' });
    await dying.close();
    const { queue, handlers } = await boot({ queue: { leaseMs: 1000, sweepIntervalMs: 100 } });
    await waitFor(async () => (await queue.getTask('l1')).status === 'succeeded', 'run again after the lost try');
    expect(handlers!.ran).toEqual([{ taskId: 'l1', attempt: 1 }]);
  });

  it('a job bullmq 5 failed at its stall limit reads as lost with its worker', () => {
    const job = { data: { taskId: 'x', params: {}, priority: 0 }, name: 't', timestamp: 0, attemptsMade: 0, stalledCounter: 2, failedReason: 'job stalled more than allowable limit', finishedOn: 1 } as unknown as Job;
    expect(recordOf(job, 'failed')).toMatchObject({ status: 'dead', error: new TaskLostError(2, 1).message });
  });

  it('lists a lost try BullMQ counted that no instance stored (the one whose stalled check found it died before its write), without times', async () => {
    const { queue } = await boot({ workers: { enabled: false } }, false);
    const id = await queue.pushTask({ type: 'note' });
    const key = `${prefix}:${queueNameOf('note')}:${jobIdOf(id)}`;
    // two stalls counted by BullMQ's stalled check, the second one's lost try stored by its instance, the first's not
    const data = JSON.parse((await redis.hget(key, 'data'))!) as Record<string, unknown>;
    data.tries = [{ attempt: 1, startedAt: 5000, finishedAt: 6000, outcome: 'lost', error: null, stack: null, instance: null }];
    await redis.hset(key, 'data', JSON.stringify(data), 'stc', '2');
    const record = await queue.getTask(id);
    expect(record.tries?.map((t) => [t.outcome, t.attempt, t.startedAt?.getTime()])).toEqual([
      ['lost', 1, undefined],
      ['lost', 1, 5000],
    ]);
    // none stored at all: both listed, with the attempt the next try will have
    await redis.hset(key, 'data', JSON.stringify({ ...data, tries: undefined }));
    expect((await queue.getTask(id)).tries?.map((t) => [t.outcome, t.attempt, t.startedAt])).toEqual([
      ['lost', 1, undefined],
      ['lost', 1, undefined],
    ]);
  });

  it('lists a lost try BullMQ counted after retryTask reset its count, when no instance stored it', async () => {
    const { queue } = await boot();
    const id = await queue.pushTask({ type: 'boom', maxRetries: 0 });
    await waitFor(async () => (await queue.getTask(id)).status === 'dead', 'the task to die');
    const key = `${prefix}:${queueNameOf('boom')}:${jobIdOf(id)}`;
    // a lost try before it died, counted by BullMQ and stored by its instance
    const data = JSON.parse((await redis.hget(key, 'data'))!) as Record<string, unknown>;
    data.tries = [{ attempt: 1, startedAt: 5000, finishedAt: 6000, outcome: 'lost', error: null, stack: null, instance: null }];
    await redis.hset(key, 'data', JSON.stringify(data), 'stc', '1');
    await queue.retryTask(id);
    await waitFor(async () => (await queue.getTask(id)).tries?.length === 3, 'the retried task to die again');
    // the retry gave it a fresh allowance (stall count 0); BullMQ counted one more lost try since, which no instance stored
    await redis.hset(key, 'stc', '1');
    const tries = (await queue.getTask(id)).tries!;
    expect(tries.map((t) => [t.outcome, t.startedAt === undefined ? undefined : 'started'])).toEqual([
      ['lost', 'started'],
      ['failed', 'started'],
      ['lost', undefined],
      ['failed', 'started'],
    ]);
  });
});
