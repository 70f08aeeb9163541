import { TaskNotFoundError } from '../../errors/errors';
import type { FlowNode } from '../../interfaces/flow.interface';
import type { QueueSchedulerModuleOptions } from '../../interfaces/options.interface';
import { resolveOptions } from '../../queue-scheduler.options';
import { MemoryQueueService } from './memory-queue.service';
import type { MemoryTasks } from './memory-tasks';

function makeQueue(queue: QueueSchedulerModuleOptions['queue'] = {}): MemoryQueueService {
  return new MemoryQueueService(resolveOptions({ logLevel: 'fatal', queue }));
}

/** The queue's bookkeeping, for what only its structures can show: what memory holds. */
const tasksOf = (queue: MemoryQueueService): MemoryTasks => (queue as unknown as { tasks: MemoryTasks }).tasks;

/** A flow's tasks in the bounded history: kept whole while its root is, forgotten with it. */
describe('MemoryQueueService history of flows', () => {
  it("keeps a flow's finished children past queue.historySize while their parent is kept, and forgets them with it", () => {
    // a parent of 20,000 children saw the last 1,000 in childResults() with the default historySize
    const queue = makeQueue({ historySize: 3 });
    const flow = queue.pushFlow({ type: 'parent', children: Array.from({ length: 10 }, (_, i) => ({ type: 'child', params: { i } })) });
    for (const task of queue.claim({ types: ['child'], unknownTypes: false, handled: new Set(['child']) }, 10)) queue.complete(task, (task.params as { i: number }).i, 1);
    const [parent] = queue.claim({ types: ['parent'], unknownTypes: false, handled: new Set(['parent']) }, 1);
    expect(parent.taskId).toBe(flow.taskId);
    const results = queue.childResults(parent);
    expect(Object.keys(results).sort()).toEqual(flow.children.map((c) => c.taskId).sort());
    expect(flow.children.map((c) => (results[c.taskId] as { result: unknown }).result)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    queue.complete(parent, 'done', 1);
    // ended, and still kept: its flow is whole
    expect(queue.getFlow(flow.taskId).children).toHaveLength(10);
    // three more finished tasks push the parent out of the history: its children go with it
    for (let i = 0; i < 3; i++) queue.pushTask({ taskId: `later-${i}`, type: 'later' });
    for (const task of queue.claim({ types: ['later'], unknownTypes: false, handled: new Set(['later']) }, 3)) queue.complete(task, null, 1);
    expect(() => queue.getTask(flow.taskId)).toThrow(TaskNotFoundError);
    for (const child of flow.children) expect(() => queue.getTask(child.taskId)).toThrow(TaskNotFoundError);
    expect(tasksOf(queue).retained.entries).toBe(3);
  });

  it('keeps a cancelled flow whole, whatever its size against queue.historySize, until later tasks push its root out', () => {
    // the cancel finishes the root first: its nodes after it pushed it out of the history, and getFlow(root) right after
    // cancelTask(root) threw TaskNotFoundError
    const queue = makeQueue({ historySize: 3 });
    const flow = queue.pushFlow({
      type: 'root',
      children: [
        { type: 'mid', children: Array.from({ length: 4 }, (_, i) => ({ type: 'leaf', params: { i } })) },
        ...Array.from({ length: 4 }, (_, i) => ({ type: 'leaf', params: { i } })),
      ],
    });
    expect(queue.cancelTask(flow.taskId)).toBe(true);
    const tree = queue.getFlow(flow.taskId);
    expect(tree.status).toBe('cancelled');
    expect(tree.children).toHaveLength(5);
    expect(tree.children[0].children).toHaveLength(4);
    const statuses = (node: FlowNode): string[] => [node.status, ...node.children.flatMap(statuses)];
    expect(statuses(tree)).toEqual(Array.from({ length: 10 }, () => 'cancelled'));
    for (const child of flow.children) expect(queue.getTask(child.taskId).status).toBe('cancelled');
    // the history still bounds it: three later tasks push the root out, and the whole flow goes with it
    for (let i = 0; i < 3; i++) queue.pushTask({ taskId: `later-${i}`, type: 'later' });
    for (const task of queue.claim({ types: ['later'], unknownTypes: false, handled: new Set(['later']) }, 3)) queue.complete(task, null, 1);
    expect(() => queue.getFlow(flow.taskId)).toThrow(TaskNotFoundError);
    for (const child of flow.children) expect(() => queue.getTask(child.taskId)).toThrow(TaskNotFoundError);
    expect(tasksOf(queue).retained.entries).toBe(3);
  });
});
