import { InvalidArgumentError, InvalidOptionsError, InvalidResultError, InvalidTaskError, TaskNotFoundError } from '../../errors/errors';
import { resolveOptions } from '../../queue-scheduler.options';
import { MemoryQueueService } from './memory-queue.service';
import type { ClaimFilter } from '../queue-consumer';

const anyType: ClaimFilter = { types: [], unknownTypes: true, handled: new Set() };

function makeQueue(): MemoryQueueService {
  return new MemoryQueueService(resolveOptions({ logLevel: 'fatal' }));
}

async function popAll(queue: MemoryQueueService): Promise<string[]> {
  const ids: string[] = [];
  for (let task = await queue.popTask(); task; task = await queue.popTask()) {
    ids.push(task.taskId);
    queue.taskDone(task.taskId);
  }
  return ids;
}

describe('MemoryQueueService tasks', () => {
  afterEach(() => jest.useRealTimers());

  it('runs lower priority numbers first and keeps FIFO within a priority', async () => {
    const queue = makeQueue();
    queue.pushTask({ taskId: 'low-1', type: 't', priority: 5 });
    queue.pushTask({ taskId: 'high-1', type: 't', priority: 1 });
    queue.pushTask({ taskId: 'low-2', type: 't', priority: 5 });
    queue.pushTask({ taskId: 'high-2', type: 't', priority: 1 });
    queue.pushTask({ taskId: 'mid', type: 'other', priority: 3 });
    queue.pushTask({ taskId: 'default-0', type: 't' });
    expect(await popAll(queue)).toEqual(['default-0', 'high-1', 'high-2', 'mid', 'low-1', 'low-2']);
  });

  it('lines a delayed task up behind the tasks already ready when its time comes', async () => {
    jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
    const queue = makeQueue();
    queue.pushTask({ taskId: 'delayed', type: 't', delayMs: 100 });
    queue.pushTask({ taskId: 'first', type: 't' });
    await jest.advanceTimersByTimeAsync(100);
    queue.pushTask({ taskId: 'after', type: 't' });
    expect(await popAll(queue)).toEqual(['first', 'delayed', 'after']);
  });

  it('makes a UUID when no taskId is given and does not queue a pending id twice', () => {
    const queue = makeQueue();
    const id = queue.pushTask({ type: 't', params: { a: 1 } });
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(queue.pushTask({ taskId: 'same', type: 't' })).toBe('same');
    expect(queue.pushTask({ taskId: 'same', type: 't', params: { other: true } })).toBe('same');
    expect(queue.getQueueSize()).toBe(2);
  });

  it('does not queue a running id twice but accepts it again once done', () => {
    const queue = makeQueue();
    queue.pushTask({ taskId: 'x', type: 't' });
    const [task] = queue.claim(anyType, 1);
    expect(queue.pushTask({ taskId: 'x', type: 't' })).toBe('x');
    expect(queue.getQueueSize()).toBe(0);
    queue.complete(task, null, 1);
    queue.pushTask({ taskId: 'x', type: 't' });
    expect(queue.getQueueSize()).toBe(1);
  });

  it('does not hand out a delayed task before its time', async () => {
    jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
    const queue = makeQueue();
    queue.pushTask({ taskId: 'later', type: 't', delayMs: 5000 });
    queue.pushTask({ taskId: 'now', type: 't' });
    expect((await queue.popTask())?.taskId).toBe('now');
    expect(await queue.popTask()).toBeNull();
    await jest.advanceTimersByTimeAsync(4999);
    expect(queue.claim(anyType, 1)).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(queue.claim(anyType, 1).map((t) => t.taskId)).toEqual(['later']);
  });

  it('wakes a waiting popTask when a delayed task becomes due, even past 2^31-1 ms', async () => {
    jest.useFakeTimers({ now: 0 });
    const queue = makeQueue();
    const huge = 2 ** 31 + 10_000;
    queue.pushTask({ taskId: 'far', type: 't', delayMs: huge });
    const popped = queue.popTask(huge + 1000);
    await jest.advanceTimersByTimeAsync(2 ** 31 - 1);
    expect(queue.getQueueSize()).toBe(1);
    await jest.advanceTimersByTimeAsync(huge - (2 ** 31 - 1));
    expect((await popped)?.taskId).toBe('far');
  });

  it('popTask refuses a timeout that is not a number (NaN was a deadline never reached, polled every ms for ever)', async () => {
    jest.useFakeTimers();
    const queue = makeQueue();
    for (const bad of [NaN, 'x', null, '50']) {
      const refused = await queue.popTask(bad as number).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(InvalidArgumentError);
      expect(refused).toMatchObject({ field: 'timeoutMs' });
      expect((refused as Error).message).toMatch(/^timeoutMs must be a number of ms .*, got /);
    }
    expect(jest.getTimerCount()).toBe(0);
    // 0 or less: no wait at all; Infinity: waits until a task comes
    expect(await queue.popTask(-1)).toBeNull();
    const forever = queue.popTask(Infinity);
    await jest.advanceTimersByTimeAsync(3 * 2 ** 31);
    queue.pushTask({ taskId: 'late', type: 't' });
    expect((await forever)?.taskId).toBe('late');
  });

  it('popTask resolves null after its timeout without busy waiting', async () => {
    jest.useFakeTimers();
    const queue = makeQueue();
    const popped = queue.popTask(3000);
    // its wait's timer, and the handle that keeps the process alive while it waits: no polling
    expect(jest.getTimerCount()).toBe(2);
    await jest.advanceTimersByTimeAsync(3000);
    await expect(popped).resolves.toBeNull();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('popTask returns a task pushed while it waits', async () => {
    const queue = makeQueue();
    const popped = queue.popTask(10_000);
    queue.pushTask({ taskId: 'soon', type: 't' });
    expect((await popped)?.taskId).toBe('soon');
  });

  it('taskDone keeps its result as a handler\'s is kept: normalised, NaN as no result, a refused one throws and the task stays running', async () => {
    const queue = makeQueue();
    const ids = ['copied', 'nan', 'refused'].map((taskId) => queue.pushTask({ taskId, type: 't' }));
    const [copied, nan, refused] = await Promise.all(ids.map(async () => (await queue.popTask())!));
    const result = { at: new Date(0), n: Infinity, gone: undefined, list: [undefined] };
    queue.taskDone(copied.taskId, result);
    result.list.push(undefined);
    expect(queue.getTask('copied')).toMatchObject({ status: 'succeeded', result: { at: '1970-01-01T00:00:00.000Z', n: null, list: [null] } });
    queue.taskDone(nan.taskId, NaN);
    expect(queue.getTask('nan').status).toBe('succeeded');
    expect(queue.getTask('nan').result).toBeUndefined();
    let error: unknown;
    try {
      queue.taskDone(refused.taskId, { total: 10n });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidResultError);
    expect((error as InvalidResultError).field).toBe('result.total');
    expect(queue.getTask('refused')).toMatchObject({ status: 'running', result: undefined });
    queue.taskDone(refused.taskId, 'fine');
    expect(queue.getTask('refused')).toMatchObject({ status: 'succeeded', result: 'fine' });
  });

  it('onIdle resolves once nothing is pending or running; size and isEmpty follow', async () => {
    const queue = makeQueue();
    await queue.onIdle();
    queue.pushTask({ taskId: 'a', type: 't' });
    let idle = false;
    const idlePromise = queue.onIdle().then(() => (idle = true));
    expect(queue.isEmpty()).toBe(false);
    const task = (await queue.popTask())!;
    expect(queue.isEmpty()).toBe(true);
    await Promise.resolve();
    expect(idle).toBe(false);
    queue.taskDone(task.taskId);
    await idlePromise;
    expect(idle).toBe(true);
  });

  it.each([
    [{ type: '' }, 'type'],
    [{ type: 42 }, 'type'],
    [{ type: 't', params: { f: () => 1 } }, 'params.f'],
    [{ type: 't', params: { n: BigInt(1) } }, 'params.n'],
    [{ type: 't', priority: 1.5 }, 'priority'],
    [{ type: 't', delayMs: -1 }, 'delayMs'],
    [{ type: 't', delayMs: NaN }, 'delayMs'],
    [{ type: 't', maxRetries: -1 }, 'maxRetries'],
    [{ type: 't', taskId: '' }, 'taskId'],
  ])('refuses %p naming the field, and queues nothing', (input, field) => {
    const queue = makeQueue();
    let error: unknown;
    try {
      queue.pushTask(input as never);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidTaskError);
    expect((error as InvalidTaskError).field).toBe(field);
    expect((error as Error).message).toContain(field);
    expect(queue.getQueueSize()).toBe(0);
  });

  it('refuses circular params and oversized params', () => {
    const queue = new MemoryQueueService(resolveOptions({ logLevel: 'fatal', queue: { maxPayloadBytes: 100 } }));
    const cyclic: Record<string, unknown> = { a: { b: {} } };
    (cyclic.a as Record<string, unknown>).back = cyclic;
    expect(() => queue.pushTask({ type: 't', params: cyclic })).toThrow(/circular/);
    expect(() => queue.pushTask({ type: 't', params: { s: 'x'.repeat(200) } })).toThrow(/maxPayloadBytes \(100\)/);
    // the same object twice, not a cycle, is fine
    const shared = { v: 1 };
    queue.pushTask({ type: 't', params: { a: shared, b: shared, list: [shared, shared] } });
    expect(queue.getQueueSize()).toBe(1);
  });

  it('cancels a pending task and retries a dead one; unknown ids are TaskNotFoundError', async () => {
    const queue = makeQueue();
    queue.pushTask({ taskId: 'c', type: 't' });
    expect(queue.cancelTask('c')).toBe(true);
    expect(queue.getTask('c').status).toBe('cancelled');
    expect(queue.getQueueSize()).toBe(0);
    queue.pushTask({ taskId: 'd', type: 't' });
    const [task] = queue.claim(anyType, 1);
    queue.fail(task, new Error('boom'), null, 1);
    expect(queue.listDeadTasks().map((t) => [t.taskId, t.error])).toEqual([['d', 'boom']]);
    queue.retryTask('d');
    expect(queue.getTask('d')).toMatchObject({ status: 'pending', attempts: 0 });
    expect(() => queue.getTask('nope')).toThrow(TaskNotFoundError);
    expect(() => queue.retryTask('nope')).toThrow(TaskNotFoundError);
    expect(() => queue.cancelTask('nope')).toThrow(TaskNotFoundError);
  });
});

describe('MemoryQueueService public store', () => {
  afterEach(() => jest.useRealTimers());

  it('sets, gets and deletes values', () => {
    const queue = makeQueue();
    queue.setPublic('bilibili_cookie', 'SESSDATA=x', 3600);
    queue.setPublic('api_key', { k: 1 });
    expect(queue.getPublic('bilibili_cookie')).toBe('SESSDATA=x');
    expect(queue.getPublic('api_key')).toEqual({ k: 1 });
    expect(queue.getPublic('missing')).toBeNull();
    expect(queue.deletePublic('api_key')).toBe(true);
    expect(queue.deletePublic('api_key')).toBe(false);
    expect(queue.listKeys()).toEqual(['bilibili_cookie']);
    queue.clearStore();
    expect(queue.getStoreSize()).toBe(0);
  });

  it('never returns or lists an expired key, even before the cleanup timer runs', () => {
    jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
    const queue = makeQueue();
    queue.setPublic('session', 'token', 60);
    queue.setPublic('forever', 1);
    jest.setSystemTime(new Date('2026-01-01T00:00:59.999Z'));
    expect(queue.getPublic('session')).toBe('token');
    jest.setSystemTime(new Date('2026-01-01T00:01:00Z'));
    expect(queue.listKeys()).toEqual(['forever']);
    expect(queue.getStoreSize()).toBe(1);
    expect(queue.getPublic('session')).toBeNull();
    expect(queue.deletePublic('session')).toBe(false);
  });

  it('cleanup() removes expired keys and returns how many', () => {
    jest.useFakeTimers({ now: 0 });
    const queue = makeQueue();
    queue.setPublic('a', 1, 1);
    queue.setPublic('b', 2, 1);
    queue.setPublic('c', 3, 10);
    jest.setSystemTime(2000);
    expect(queue.cleanup()).toBe(2);
    expect(queue.cleanup()).toBe(0);
    expect(queue.listKeys()).toEqual(['c']);
  });

  it('the cleanup timer sweeps on its interval and stops with stopCleanup / module destroy', async () => {
    jest.useFakeTimers({ now: 0 });
    const queue = new MemoryQueueService(resolveOptions({ logLevel: 'fatal', store: { cleanupIntervalSeconds: 30 } }));
    const sweep = jest.spyOn(queue, 'cleanup');
    queue.setPublic('a', 1, 10);
    queue.startCleanup();
    await jest.advanceTimersByTimeAsync(29_999);
    expect(sweep).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(1);
    expect(sweep).toHaveReturnedWith(1);
    queue.onModuleDestroy();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('refuses a bad key or TTL naming the field, writing nothing', () => {
    const queue = makeQueue();
    expect(() => queue.setPublic('', 1)).toThrow(InvalidArgumentError);
    expect(() => queue.setPublic('k', 1, -5)).toThrow(/ttlSeconds must be a positive number of seconds, got -5/);
    expect(() => queue.setPublic('k', 1, NaN)).toThrow(InvalidArgumentError);
    expect(queue.getStoreSize()).toBe(0);
  });
});

describe('MemoryQueueService on another backend', () => {
  afterEach(() => jest.useRealTimers());

  it.each(['database', 'redis'] as const)("on '%s' refuses every call with InvalidOptionsError and starts no timer", (backend) => {
    jest.useFakeTimers();
    const queue = new MemoryQueueService(resolveOptions({ logLevel: 'fatal', queue: { backend } }));
    expect(queue).toBeInstanceOf(MemoryQueueService);
    queue.onApplicationBootstrap();
    expect(jest.getTimerCount()).toBe(0);
    const calls: Array<[string, () => unknown]> = [
      ['pushTask', () => queue.pushTask({ type: 't' })],
      ['pushTasks', () => queue.pushTasks([{ type: 't' }])],
      ['popTask', () => queue.popTask()],
      ['claim', () => queue.claim(anyType, 1)],
      ['setPublic', () => queue.setPublic('k', 1)],
      ['startCleanup', () => queue.startCleanup()],
      ['countByStatus', () => queue.countByStatus()],
      ['onEvent', () => queue.onEvent(() => undefined)],
      ['pushClaimed', () => queue.pushClaimed(async () => [])],
      ['events$', () => queue.events$],
    ];
    for (const [name, call] of calls) {
      let error: unknown;
      try {
        call();
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect((error as InvalidOptionsError).field).toBe('queue.backend');
      expect((error as Error).message).toContain(`MemoryQueueService.${name}`);
      expect((error as Error).message).toContain(`queue.backend is '${backend}'`);
      expect((error as Error).message).toContain('Inject TaskQueue instead');
    }
    expect(jest.getTimerCount()).toBe(0);
    queue.onModuleDestroy();
  });
});
