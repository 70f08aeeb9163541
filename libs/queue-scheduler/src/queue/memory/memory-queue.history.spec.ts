import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { InvalidArgumentError, TaskNotFoundError } from '../../errors/errors';
import { TaskHandlerRegistry } from '../../handlers/task-handler.registry';
import type { QueueSchedulerModuleOptions } from '../../interfaces/options.interface';
import type { TaskRecord, TaskStatus } from '../../interfaces/task.interface';
import { resolveOptions } from '../../queue-scheduler.options';
import { WorkerPool } from '../../workers/worker-pool';
import { MemoryQueueService } from './memory-queue.service';
import type { MemoryTasks } from './memory-tasks';
import type { ListTasksFilter } from '../task-queue';
import type { ClaimFilter } from '../queue-consumer';

const anyType: ClaimFilter = { types: [], unknownTypes: true, handled: new Set() };

function makeQueue(queue: QueueSchedulerModuleOptions['queue'] = {}): MemoryQueueService {
  return new MemoryQueueService(resolveOptions({ logLevel: 'fatal', queue }));
}

/** The queue's bookkeeping, for what only its structures can show: what a page read, what memory holds. */
const tasksOf = (queue: MemoryQueueService): MemoryTasks => (queue as unknown as { tasks: MemoryTasks }).tasks;

/** Every page of `filter`, following nextCursor. */
function allPages(queue: MemoryQueueService, filter: ListTasksFilter): TaskRecord[] {
  const items: TaskRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = queue.listTasks({ ...filter, cursor });
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

/** A full GC, also under Jest (no --expose-gc): the flag is set, and a fresh context gets `gc`. */
function heapAfterGc(): number {
  setFlagsFromString('--expose_gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('MemoryQueueService: bounded history', () => {
  it('keeps at most queue.historySize dead tasks of 50,000 with no handler, and their memory with them', async () => {
    const resolved = resolveOptions({ logLevel: 'fatal', workers: { concurrency: 8 } });
    const queue = new MemoryQueueService(resolved);
    const pool = new WorkerPool(queue, new TaskHandlerRegistry(resolved), resolved);
    pool.start();
    const drain = async (n: number, from: number): Promise<void> => {
      for (let i = 0; i < n; i += 5000) {
        queue.pushTasks(Array.from({ length: 5000 }, (_, j) => ({ type: 'nobody', params: { n: from + i + j, pad: 'x'.repeat(200) } })));
        await queue.onIdle();
      }
    };
    await drain(5000, 0);
    const before = heapAfterGc();
    await drain(50_000, 5000);
    const grown = heapAfterGc() - before;
    await pool.stop();

    const size = resolved.queue.historySize;
    const dead = queue.listDeadTasks();
    expect(dead).toHaveLength(size);
    // the newest deaths are the ones kept, oldest first
    expect(dead.map((t) => (t.params as { n: number }).n)).toEqual(Array.from({ length: size }, (_, i) => 55_000 - size + i));
    expect(dead.every((t) => t.error === "no @TaskHandler for type 'nobody'")).toBe(true);
    // counts are of the process, as succeeded always was: every task that died and was not run again
    expect(queue.countByStatus()).toEqual({ pending: 0, running: 0, failed: 0, succeeded: 0, cancelled: 0, dead: 55_000, waiting: 0 });
    expect(allPages(queue, { status: 'dead', limit: 300 })).toHaveLength(size);
    expect(allPages(queue, { limit: 300 })).toHaveLength(size);
    expect(() => queue.getTask(dead[0].taskId)).not.toThrow();
    const forgotten = queue.listTasks({ limit: 1, cursor: String(0) });
    expect(forgotten.items).toEqual([]);
    // in no structure but the kept ones: entries by id, and the slots of the push-order logs (all, and the type's)
    const retained = tasksOf(queue).retained;
    expect(retained.entries).toBe(size);
    expect(retained.slots).toBeLessThanOrEqual(2 * (2 * size + 3 * 64));
    // 50,000 dead tasks kept grew the heap by 53 MB; a thousand of them is about 1 MB
    expect(grown).toBeLessThan(8 * 2 ** 20);
  }, 60_000);

  it('forgets succeeded and cancelled tasks past queue.historySize, and dead ones apart from them', () => {
    const queue = makeQueue({ historySize: 3 });
    const run = (prefix: string, n: number, outcome: 'succeed' | 'die'): void => {
      for (let i = 0; i < n; i++) queue.pushTask({ taskId: `${prefix}${i}`, type: 't' });
      for (const task of queue.claim(anyType, n)) {
        if (outcome === 'die') queue.fail(task, new Error(`boom ${task.taskId}`), null, 1);
        else queue.complete(task, null, 1);
      }
    };
    run('d', 5, 'die');
    run('s', 6, 'succeed');
    queue.pushTask({ taskId: 'c0', type: 't' });
    queue.cancelTask('c0');
    // successes and a cancel after the deaths did not push the dead out: each kind keeps its own last three
    expect(queue.listDeadTasks().map((t) => t.taskId)).toEqual(['d2', 'd3', 'd4']);
    expect(allPages(queue, {}).map((t) => t.taskId)).toEqual(['c0', 's5', 's4', 'd4', 'd3', 'd2']);
    for (const gone of ['d0', 'd1', 's0', 's3']) expect(() => queue.getTask(gone)).toThrow(TaskNotFoundError);
    expect(queue.countByStatus()).toEqual({ pending: 0, running: 0, failed: 0, succeeded: 6, cancelled: 1, dead: 5, waiting: 0 });
    // a dead task retried and dead again is kept once, and counted once
    queue.retryTask('d2');
    queue.fail(queue.claim(anyType, 1)[0], new Error('again'), null, 1);
    expect(queue.listDeadTasks().map((t) => [t.taskId, t.error])).toEqual([['d3', 'boom d3'], ['d4', 'boom d4'], ['d2', 'again']]);
    expect(queue.countByStatus()).toMatchObject({ dead: 5 });
    // pushed again, it is no longer dead
    queue.pushTask({ taskId: 'd2', type: 't' });
    expect(queue.listDeadTasks().map((t) => t.taskId)).toEqual(['d3', 'd4']);
    expect(queue.countByStatus()).toMatchObject({ pending: 1, dead: 4 });
  });
});

describe('MemoryQueueService.listTasks pages', () => {
  it('reads O(limit) entries for a page of 50 over 200,000 tasks, with and without filters', () => {
    const queue = makeQueue();
    for (let i = 0; i < 200_000; i += 10_000) {
      queue.pushTasks(Array.from({ length: 10_000 }, (_, j) => ({ type: (i + j) % 4 === 0 ? 'rare' : 'common', params: { n: i + j } })));
    }
    for (const task of queue.claim(anyType, 40)) queue.complete(task, null, 1);
    const cost = (filter: ListTasksFilter): number => {
      const page = queue.listTasks({ limit: 50, ...filter });
      expect(page.items).toHaveLength(50);
      expect(page.nextCursor).toBeDefined();
      return tasksOf(queue).lastPageCost;
    };
    const first = queue.listTasks({ limit: 50 });
    expect(first.items.map((t) => (t.params as { n: number }).n)).toEqual(Array.from({ length: 50 }, (_, i) => 199_999 - i));
    // slots read, and the blocks of 64 they sit in: limit + 1 (to know a next page exists) and a few, not 200,000
    const bound = 51 + 64 + 4;
    expect(cost({})).toBeLessThanOrEqual(bound);
    expect(cost({ cursor: first.nextCursor })).toBeLessThanOrEqual(bound);
    expect(cost({ cursor: String(100_000) })).toBeLessThanOrEqual(bound);
    expect(cost({ type: 'rare' })).toBeLessThanOrEqual(bound);
    expect(cost({ status: 'pending', type: 'rare', cursor: String(150_000) })).toBeLessThanOrEqual(bound);
    // the 40 succeeded ones are the oldest: blocks without one are passed with one read each, their entries never read
    expect(queue.listTasks({ status: 'succeeded', limit: 50 }).items).toHaveLength(40);
    expect(tasksOf(queue).lastPageCost).toBeLessThanOrEqual(200_000 / 64 + 2 * 64);
  });

  it('pages through every kept task once, newest push or retry first, with every filter', () => {
    const queue = makeQueue({ historySize: 20 });
    // the order the status API lists by: a task is newest when queued, and again when queued for a retry
    const order: string[] = [];
    queue.events$.subscribe((e) => {
      if (e.kind === 'queued' || e.kind === 'retrying') order.push(e.taskId);
    });
    const types = ['a', 'b', 'c'];
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 40; i++) queue.pushTask({ taskId: `r${round}-${i}`, type: types[i % 3], delayMs: i % 9 === 0 ? 60_000 : 0 });
      const claimed = queue.claim(anyType, 30);
      claimed.forEach((task, i) => {
        if (i % 5 === 0) queue.fail(task, new Error('retry'), new Date(Date.now() + 60_000), 1);
        else if (i % 5 === 1) queue.fail(task, new Error('dead'), null, 1);
        else if (i % 5 !== 2) queue.complete(task, null, 1);
      });
      queue.cancelTask(`r${round}-39`);
      // a dead one queued again, and a failed one run now: both are the newest again
      if (round > 0) queue.retryTask(queue.listDeadTasks()[round % 2].taskId);
      if (round > 0) queue.retryTask(queue.listTasks({ status: 'failed', limit: 1 }).items[0].taskId);
    }
    const kept = [...new Set([...order].reverse())].filter((id) => {
      try {
        queue.getTask(id);
        return true;
      } catch {
        return false;
      }
    });
    const record = (id: string): TaskRecord => queue.getTask(id);
    const statuses: Array<TaskStatus | undefined> = [undefined, 'pending', 'running', 'failed', 'succeeded', 'dead', 'cancelled'];
    for (const status of statuses) {
      for (const type of [undefined, ...types]) {
        const expected = kept.filter((id) => (!status || record(id).status === status) && (!type || record(id).type === type));
        for (const limit of [1, 7, 1000]) {
          expect(allPages(queue, { status, type, limit }).map((t) => t.taskId)).toEqual(expected);
        }
      }
    }
    // the scenario has every status, and tasks forgotten past the history
    for (const status of statuses) expect(allPages(queue, { status }).length).toBeGreaterThan(0);
    expect(new Set(order).size).toBeGreaterThan(kept.length);
  });

  it('keeps its place while tasks are pushed, run and forgotten between pages: each task there throughout is listed once', () => {
    const queue = makeQueue({ historySize: 50 });
    const first = Array.from({ length: 300 }, (_, i) => queue.pushTask({ taskId: `old-${i}`, type: i % 2 ? 'odd' : 'even' }));
    const churn: ClaimFilter = { types: ['churn'], unknownTypes: false, handled: new Set(['churn']) };
    // the unfiltered walk first, before any churn task exists; the others leave churn out by their filter
    for (const filter of [{}, { type: 'odd' }, { status: 'pending' as const }, { status: 'pending' as const, type: 'even' }]) {
      const listed: string[] = [];
      let cursor: string | undefined;
      do {
        const page = queue.listTasks({ ...filter, limit: 25, cursor });
        listed.push(...page.items.map((t) => t.taskId));
        cursor = page.nextCursor;
        // between pages, above the cursor: 10 new tasks, run at once, and as many older ones falling out of the history;
        // an offset would shift by them (the same tasks again on the next page, or some never)
        for (let i = 0; i < 10; i++) queue.pushTask({ type: 'churn' });
        for (const task of queue.claim(churn, 10)) queue.complete(task, null, 1);
      } while (cursor);
      const type = (id: string): string => (Number(id.slice(4)) % 2 ? 'odd' : 'even');
      expect(listed).toEqual(first.filter((id) => !('type' in filter) || type(id) === filter.type).reverse());
    }
  });

  it('lists by type right for more types than it keeps logs for, as tasks are pushed, retried and forgotten between the listings', () => {
    const queue = makeQueue({ historySize: 30 });
    // more types than MemoryTasks keeps a log for at once: each listing builds one, and some are dropped and built again
    const types = Array.from({ length: 45 }, (_, i) => `type-${i}`);
    const check = (): void => {
      const all = allPages(queue, { limit: 1000 });
      for (const type of types) {
        expect(allPages(queue, { type, limit: 3 }).map((t) => t.taskId)).toEqual(all.filter((t) => t.type === type).map((t) => t.taskId));
        for (const status of ['pending', 'succeeded', 'failed'] as const) {
          expect(allPages(queue, { type, status, limit: 4 }).map((t) => t.taskId)).toEqual(
            all.filter((t) => t.type === type && t.status === status).map((t) => t.taskId),
          );
        }
      }
    };
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 200; i++) queue.pushTask({ taskId: `t${round}-${i}`, type: types[(i * 7 + round) % types.length] });
      queue.claim(anyType, 120).forEach((task, i) => {
        if (i % 4 === 0) queue.fail(task, new Error('retry'), new Date(Date.now() + 60_000), 1);
        else queue.complete(task, null, 1);
      });
      check();
    }
    expect(queue.countByStatus().succeeded).toBeGreaterThan(30);
  });

  it('lists the same whether its first page came before the tasks were pushed, retried, replaced, deleted and forgotten or after', () => {
    // the log of every task is built on the first page (from the index) and kept from then on: both must list alike
    const churn = (queue: MemoryQueueService): void => {
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 60; i++) queue.pushTask({ taskId: `t${round}-${i}`, type: i % 3 ? 'a' : 'b', delayMs: i % 11 === 0 ? 60_000 : 0 });
        const dead: string[] = [];
        const done: string[] = [];
        queue.claim(anyType, 45).forEach((task, i) => {
          if (i % 6 === 0) queue.fail(task, new Error('retry'), new Date(Date.now() + 60_000), 1);
          else if (i % 6 === 1) queue.fail(task, new Error('dead'), null, 1);
          else if (i % 6 !== 2) queue.complete(task, null, 1);
          if (i % 6 === 1) dead.push(task.taskId);
          else if (i % 6 > 2) done.push(task.taskId);
        });
        queue.retryTask(dead[dead.length - 1]);
        // an ended task's id pushed again: the new task replaces it
        queue.pushTask({ taskId: done[done.length - 1], type: 'c' });
        expect(queue.deleteTask(done[done.length - 2])).toBe(true);
      }
    };
    const early = makeQueue({ historySize: 25 });
    early.listTasks({});
    early.listTasks({ type: 'a' });
    churn(early);
    const late = makeQueue({ historySize: 25 });
    churn(late);
    for (const status of [undefined, 'pending', 'running', 'failed', 'succeeded', 'dead'] as Array<TaskStatus | undefined>) {
      for (const type of [undefined, 'a', 'b', 'c']) {
        // ids, statuses and types: the times and stacks of two runs differ
        const listed = allPages(late, { status, type, limit: 7 }).map((t) => [t.taskId, t.status, t.type]);
        expect(listed).toEqual(allPages(early, { status, type, limit: 7 }).map((t) => [t.taskId, t.status, t.type]));
        if (!status && !type) expect(listed.length).toBeGreaterThan(100);
      }
    }
  });

  it('refuses a cursor it did not issue, a bad limit and a status it does not have; a type with no task lists nothing', () => {
    const queue = makeQueue();
    queue.pushTask({ type: 't' });
    for (const cursor of ['-1', '1.5', 'abc', '1e3']) expect(() => queue.listTasks({ cursor })).toThrow(InvalidArgumentError);
    expect(() => queue.listTasks({ limit: 0 })).toThrow(InvalidArgumentError);
    expect(queue.listTasks({ type: 'other' })).toEqual({ items: [], nextCursor: undefined });
    expect(() => queue.listTasks({ status: 'bogus' as TaskStatus })).toThrow(InvalidArgumentError);
  });
});
