import { resolveOptions } from '../../queue-scheduler.options';
import { MemoryQueueService } from './memory-queue.service';
import type { ClaimFilter } from '../queue-consumer';

const anyType: ClaimFilter = { types: [], unknownTypes: true, handled: new Set() };

describe('MemoryEntry as a handler sees it (ctx.task)', () => {
  it('a spread keeps every Task field it has as its own, whatever moved into the side object', () => {
    const queue = new MemoryQueueService(resolveOptions({ logLevel: 'fatal' }));
    const scheduledAt = new Date('2026-01-01T00:00:00Z');
    queue.pushTask({ taskId: 'a', type: 't', params: { n: 1 }, priority: 2, maxRetries: 3, schedulerTaskId: 's1', scheduledAt, singletonKey: 'k' });
    const [task] = queue.claim(anyType, 1);
    const spread = { ...task };
    expect(spread).toMatchObject({ taskId: 'a', type: 't', params: { n: 1 }, priority: 2, attempts: 1, maxRetries: 3, schedulerTaskId: 's1', scheduledAt });
    expect(Object.keys(spread)).toEqual(expect.arrayContaining(['taskId', 'type', 'params', 'priority', 'attempts', 'maxRetries', 'schedulerTaskId', 'scheduledAt', 'traceContext']));
    // the singleton key is no Task field: kept aside, still on the record
    expect(Object.keys(spread)).not.toContain('singletonKey');
    expect(queue.getTask('a').singletonKey).toBe('k');
    queue.complete(task, null, 1);
    expect(queue.getTask('a').status).toBe('succeeded');
  });

  it('a task pushed again under the id of one that ended replaces it, and the old object is left as it was', () => {
    const queue = new MemoryQueueService(resolveOptions({ logLevel: 'fatal' }));
    queue.pushTask({ taskId: 'a', type: 't', params: { v: 1 } });
    const [first] = queue.claim(anyType, 1);
    queue.complete(first, null, 1);
    queue.pushTask({ taskId: 'a', type: 't', params: { v: 2 } });
    expect(queue.getTask('a')).toMatchObject({ status: 'pending', params: { v: 2 } });
    expect(first).toMatchObject({ taskId: 'a', params: { v: 1 }, attempts: 1 });
    const [second] = queue.claim(anyType, 1);
    expect(second).not.toBe(first);
    queue.complete(second, 'done', 1);
    expect(queue.getTask('a')).toMatchObject({ status: 'succeeded', result: 'done' });
  });
});
