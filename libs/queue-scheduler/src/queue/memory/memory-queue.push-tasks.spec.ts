import { InvalidArgumentError, InvalidTaskError } from '../../errors/errors';
import { resolveOptions } from '../../queue-scheduler.options';
import { MemoryQueueService } from './memory-queue.service';
import type { ClaimFilter } from '../queue-consumer';

const anyType: ClaimFilter = { types: [], unknownTypes: true, handled: new Set() };

function makeQueue(): MemoryQueueService {
  return new MemoryQueueService(resolveOptions({ logLevel: 'fatal' }));
}

describe('MemoryQueueService.pushTasks', () => {
  it('queues every input in order, with the ids pushTask would return', () => {
    const queue = makeQueue();
    const ids = queue.pushTasks([{ taskId: 'a', type: 't' }, { type: 't', params: { n: 2 } }, { taskId: 'c', type: 'u', priority: -1 }]);
    expect(ids[0]).toBe('a');
    expect(ids[1]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids[2]).toBe('c');
    expect(queue.getQueueSize()).toBe(3);
    expect(queue.claim(anyType, 3).map((t) => t.taskId)).toEqual(['c', 'a', ids[1]]);
    expect(queue.getTask(ids[1]).params).toEqual({ n: 2 });
  });

  it('keeps the dedupe rule inside a batch and against tasks already pending', () => {
    const queue = makeQueue();
    queue.pushTask({ taskId: 'old', type: 't' });
    expect(queue.pushTasks([{ taskId: 'old', type: 't' }, { taskId: 'new', type: 't' }, { taskId: 'new', type: 't' }])).toEqual(['old', 'new', 'new']);
    expect(queue.getQueueSize()).toBe(2);
  });

  it('refuses a batch with one bad input, naming its index and field, and queues none of it', () => {
    const queue = makeQueue();
    const push = (): string[] => queue.pushTasks([{ taskId: 'fine', type: 't' }, { type: '' }]);
    expect(push).toThrow(InvalidTaskError);
    expect(push).toThrow(/^inputs\[1\]\.type /);
    try {
      push();
    } catch (err) {
      expect((err as InvalidTaskError).field).toBe('inputs[1].type');
    }
    expect(queue.getQueueSize()).toBe(0);
    expect(() => queue.pushTasks({ type: 't' } as never)).toThrow(InvalidArgumentError);
    expect(queue.getQueueSize()).toBe(0);
  });

  it('mixes plain pushes and pushes with a key in one batch: order, key rule and params kept', () => {
    const queue = makeQueue();
    const ids = queue.pushTasks([{ type: 't', params: { i: 0 } }, { type: 't', singletonKey: 'k', params: { i: 1 } }, { type: 't', singletonKey: 'k' }, { taskId: 'x', type: 't', params: { i: 3 } }]);
    expect(ids[2]).toBe(ids[1]);
    expect(ids[3]).toBe('x');
    expect(queue.getQueueSize()).toBe(3);
    const claimed = queue.claim(anyType, 3);
    expect(claimed.map((t) => t.params)).toEqual([{ i: 0 }, { i: 1 }, { i: 3 }]);
    // a finished id pushed again in a batch is queued again
    queue.complete(claimed[2], undefined, 0);
    expect(queue.pushTasks([{ taskId: 'x', type: 't', params: { i: 4 } }])).toEqual(['x']);
    expect(queue.getTask('x').params).toEqual({ i: 4 });
  });

  it('an empty batch queues nothing and returns no ids', () => {
    const queue = makeQueue();
    expect(queue.pushTasks([])).toEqual([]);
    expect(queue.isEmpty()).toBe(true);
  });
});

describe('MemoryQueueService.pushTask from inside a queued event', () => {
  it('keeps both pushes whole: the inner one does not change the outer task or the id it returns', () => {
    const queue = makeQueue();
    queue.onEvent((kind, type) => {
      if (kind === 'queued' && type === 'outer') queue.pushTask({ taskId: 'inner', type: 'inner', params: { who: 'inner' }, priority: 9, singletonKey: 'k' });
    });
    const id = queue.pushTask({ taskId: 'outer', type: 'outer', params: { who: 'outer' }, priority: -1, singletonKey: 'o' });
    expect(id).toBe('outer');
    expect(queue.getTask('outer')).toMatchObject({ type: 'outer', params: { who: 'outer' }, priority: -1, singletonKey: 'o' });
    expect(queue.getTask('inner')).toMatchObject({ type: 'inner', params: { who: 'inner' }, priority: 9, singletonKey: 'k' });
    // the outer push took its key: a second push under it is dropped for the standing task
    expect(queue.pushTask({ type: 'outer', singletonKey: 'o' })).toBe('outer');
  });

  it('a caller changing its params after the push does not change the stored task', () => {
    const queue = makeQueue();
    const params: Record<string, unknown> = { n: 1 };
    const id = queue.pushTask({ type: 't', params });
    params.n = 2;
    params.m = 3;
    expect(queue.getTask(id).params).toEqual({ n: 1 });
  });
});
