import { resolveOptions } from '../../queue-scheduler.options';
import { MemoryQueueService } from './memory-queue.service';
import { PriorityLanes } from './priority-lanes';

/**
 * A scheduler that stops cancels every occurrence it queued ahead: delayed
 * tasks, often of a type with a long ready backlog. Each cancel must find its
 * task where it is, not search the ready lanes first (that made a stop with
 * 10,000 held occurrences and 10,000 ready tasks take 10^8 steps).
 */
describe('MemoryQueueService cancel of delayed tasks', () => {
  afterEach(() => jest.restoreAllMocks());

  it('takes a delayed task out of the delayed heap without searching the ready lanes', () => {
    const queue = new MemoryQueueService(resolveOptions({ logLevel: 'fatal' }));
    queue.pushTasks(Array.from({ length: 1000 }, () => ({ type: 'tick' })));
    const delayed = queue.pushTasks(Array.from({ length: 100 }, () => ({ type: 'tick', delayMs: 60_000 })));
    const search = jest.spyOn(PriorityLanes.prototype, 'removeWhere');

    for (const id of delayed) expect(queue.cancelTask(id)).toBe(true);

    expect(search).not.toHaveBeenCalled();
    expect(delayed.map((id) => queue.getTask(id).status)).toEqual(delayed.map(() => 'cancelled'));
    expect(queue.getQueueSize()).toBe(1000);
  });

  it('still takes a ready task out of its lane', () => {
    const queue = new MemoryQueueService(resolveOptions({ logLevel: 'fatal' }));
    const [first, second] = queue.pushTasks([{ type: 'tick' }, { type: 'tick' }]);
    expect(queue.cancelTask(first)).toBe(true);
    expect(queue.getTask(first).status).toBe('cancelled');
    expect(queue.getQueueSize()).toBe(1);
    expect(queue.claim({ types: ['tick'], unknownTypes: false, handled: new Set(['tick']) }, 5).map((t) => t.taskId)).toEqual([second]);
  });

  it("cancels a flow's unstarted tasks in one pass over their type's lanes, not one search per task", () => {
    // one search per child made the cancel of a 20,000-node flow O(n^2): 15 s with the event loop held
    const queue = new MemoryQueueService(resolveOptions({ logLevel: 'fatal', queue: { historySize: 10_000 } }));
    const before = queue.pushTasks(Array.from({ length: 500 }, () => ({ type: 'leaf' })));
    const ids = queue.pushFlow({
      type: 'root',
      children: [
        ...Array.from({ length: 2000 }, () => ({ type: 'leaf' })),
        { type: 'mid', children: Array.from({ length: 50 }, (_, i) => ({ type: 'leaf', delayMs: i % 2 ? 60_000 : 0 })) },
      ],
    });
    const search = jest.spyOn(PriorityLanes.prototype, 'removeWhere');

    expect(queue.cancelTask(ids.taskId)).toBe(true);

    // the leaves' type once; the parents wait for their children in no lane
    expect(search).toHaveBeenCalledTimes(1);
    const all = [ids, ...ids.children, ...ids.children[2000].children];
    expect(new Set(all.map((n) => queue.getTask(n.taskId).status))).toEqual(new Set(['cancelled']));
    expect(queue.getQueueSize()).toBe(500);
    expect(queue.claim({ types: ['leaf'], unknownTypes: false, handled: new Set(['leaf']) }, 600).map((t) => t.taskId)).toEqual(before);
  });
});
