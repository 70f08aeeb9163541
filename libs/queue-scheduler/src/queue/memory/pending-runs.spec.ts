import fc from 'fast-check';
import { resolveOptions } from '../../queue-scheduler.options';
import { MemoryQueueService } from './memory-queue.service';
import type { ClaimFilter } from '../queue-consumer';
import type { Task } from '../../interfaces/task.interface';

const anyType: ClaimFilter = { types: [], unknownTypes: true, handled: new Set() };
const only = (type: string): ClaimFilter => ({ types: [type], unknownTypes: false, handled: new Set([type]) });

function makeQueue(): MemoryQueueService {
  return new MemoryQueueService(resolveOptions({ logLevel: 'fatal' }));
}

/** What the model expects of a pending task. */
interface Pending {
  id: string;
  type: string;
  priority: number;
  params: Record<string, unknown>;
  /** When it became ready (push order, or for a delayed task the claim that found it due). */
  n: number;
  /** Push order: what the status API lists by. */
  pushed: number;
  /** A delayed task: due at this clock reading, not ready yet. */
  dueAt?: number;
}

type Op =
  | { op: 'push'; type: string; priority: number; params: Record<string, unknown> | undefined; keyed: boolean }
  | { op: 'batch'; items: Array<{ type: string; priority: number; params: Record<string, unknown> | undefined }> }
  | { op: 'get'; pick: number }
  | { op: 'cancel'; pick: number }
  | { op: 'claim'; n: number; type: string | undefined }
  | { op: 'delayed'; type: string; priority: number }
  | { op: 'list' }
  | { op: 'listen' }
  | { op: 'sleep' };

const types = fc.constantFrom('a', 'b');
const priorities = fc.constantFrom(0, 0, 0, 1, -1);
// undefined: a push that gives none, whose task has params `{}`
const params = fc.oneof(fc.constant(undefined), fc.constant({}), fc.record({ n: fc.integer(), s: fc.string({ maxLength: 4 }) }));
const ops: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('push' as const), type: types, priority: priorities, params, keyed: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('batch' as const), items: fc.array(fc.record({ type: types, priority: priorities, params }), { maxLength: 30 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('get' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cancel' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('claim' as const), n: fc.integer({ min: 1, max: 40 }), type: fc.option(types, { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delayed' as const), type: types, priority: priorities }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('list' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('listen' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('sleep' as const) }) },
);

/** The model's next task for a claim: lowest priority, then push order (all tasks are ready at once). */
function expectedClaim(pending: Map<string, Pending>, n: number, type: string | undefined): Pending[] {
  return [...pending.values()]
    .filter((p) => p.dueAt === undefined && (type === undefined || p.type === type))
    .sort((x, y) => x.priority - y.priority || x.n - y.n)
    .slice(0, n);
}

describe('plain pushes kept as runs (memory queue)', () => {
  it('stores exactly each task under its id and hands them out in priority then push order, whatever lookups, cancels, listings and claims come between', () => {
    fc.assert(
      fc.property(fc.array(ops, { maxLength: 60 }), (script) => {
        // each step is 1 ms later, and a delayed task is due at the next step: it becomes ready between plain pushes
        let now = 1_000_000;
        const queue = new MemoryQueueService(resolveOptions({ logLevel: 'fatal' }), { now: () => now, manual: true });
        const pending = new Map<string, Pending>();
        let n = 0;
        let pushed = 0;
        const promote = (): void => {
          const due = [...pending.values()].filter((p) => p.dueAt !== undefined && p.dueAt <= now).sort((x, y) => x.dueAt! - y.dueAt!);
          for (const p of due) {
            p.dueAt = undefined;
            p.n = n++;
          }
        };
        const stop: Array<() => void> = [];
        const sleepers: AbortController[] = [];
        const check = (t: Task | null | undefined, p: Pending): void => {
          expect(t).toBeTruthy();
          expect({ id: t!.taskId, type: t!.type, priority: t!.priority, params: t!.params }).toEqual({ id: p.id, type: p.type, priority: p.priority, params: p.params });
        };
        for (const step of script) {
          now++;
          if (step.op === 'delayed') {
            const id = queue.pushTask({ type: step.type, priority: step.priority, delayMs: 1 });
            pending.set(id, { id, type: step.type, priority: step.priority, params: {}, n: -1, pushed: pushed++, dueAt: now + 1 });
          } else if (step.op === 'push') {
            // a key makes the push not plain: its entry sits among the runs
            const id = queue.pushTask({ type: step.type, priority: step.priority, params: step.params, ...(step.keyed ? { taskId: `k${n}` } : {}) });
            pending.set(id, { id, type: step.type, priority: step.priority, params: step.params ?? {}, n: n++, pushed: pushed++ });
          } else if (step.op === 'batch') {
            const ids = queue.pushTasks(step.items.map((i) => ({ ...i })));
            ids.forEach((id, i) => pending.set(id, { id, ...step.items[i], params: step.items[i].params ?? {}, n: n++, pushed: pushed++ }));
          } else if (step.op === 'get' || step.op === 'cancel') {
            const all = [...pending.values()];
            if (all.length === 0) continue;
            const p = all[step.pick % all.length];
            check(queue.getTask(p.id), p);
            expect(queue.getTask(p.id).status).toBe('pending');
            if (step.op === 'cancel') {
              queue.cancelTask(p.id);
              pending.delete(p.id);
              expect(queue.getTask(p.id).status).toBe('cancelled');
            }
          } else if (step.op === 'claim') {
            promote();
            const want = expectedClaim(pending, step.n, step.type);
            const got = queue.claim(step.type === undefined ? anyType : only(step.type), step.n);
            expect(got.map((t) => t.taskId)).toEqual(want.map((p) => p.id));
            got.forEach((t, i) => {
              check(t, want[i]);
              expect(queue.getTask(t.taskId).status).toBe('running');
              queue.complete(t, undefined, 0);
              expect(queue.getTask(t.taskId).status).toBe('succeeded');
              pending.delete(t.taskId);
            });
          } else if (step.op === 'list') {
            const listed = queue.listTasks({ status: 'pending', limit: 1000 }).items.map((t) => t.taskId);
            expect(listed).toEqual([...pending.values()].sort((x, y) => y.pushed - x.pushed).map((p) => p.id));
          } else if (step.op === 'sleep') {
            // a consumer asleep until work comes: the next push is queued as an entry, taken at once;
            // it looks first, which makes the delayed tasks due by now ready
            promote();
            const sleeper = new AbortController();
            sleepers.push(sleeper);
            void queue.waitForWork(anyType, 60_000, sleeper.signal);
          } else {
            // a subscriber wants an event object per push: plain pushes are then queued as entries
            const sub = queue.events$.subscribe(() => undefined);
            stop.push(() => sub.unsubscribe());
            if (stop.length % 2 === 0) stop.splice(0).forEach((s) => s());
          }
          expect(queue.getQueueSize()).toBe(pending.size);
          expect(queue.countByStatus().pending).toBe(pending.size);
        }
        now += 10;
        promote();
        const rest = queue.claim(anyType, 100_000);
        expect(rest.map((t) => t.taskId)).toEqual(expectedClaim(pending, Infinity, undefined).map((p) => p.id));
        stop.forEach((s) => s());
        sleepers.forEach((s) => s.abort());
      }),
      { seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : 20261205, numRuns: process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 300 },
    );
  });

  it('does not run a plain push ahead of a delayed task that became ready before it', () => {
    let now = 1_000_000;
    const queue = new MemoryQueueService(resolveOptions({ logLevel: 'fatal' }), { now: () => now, manual: true });
    const delayed = queue.pushTask({ type: 't', delayMs: 5 });
    const first = queue.pushTask({ type: 't' });
    now += 5;
    // a claim of another type finds the delayed task due: it is ready from now on, after `first`
    expect(queue.claim(only('other'), 1)).toEqual([]);
    const second = queue.pushTask({ type: 't' });
    expect(queue.claim(only('t'), 3).map((t) => t.taskId)).toEqual([first, delayed, second]);
  });

  it('gives each task its own params and its push time, made when claimed', () => {
    let now = Date.parse('2026-12-05T10:00:00Z');
    const queue = new MemoryQueueService(resolveOptions({ logLevel: 'fatal' }), { now: () => now, manual: true });
    const shared = { n: 1 };
    const first = queue.pushTask({ type: 't', params: shared });
    now += 1500;
    const second = queue.pushTask({ type: 't', params: shared });
    shared.n = 2;
    const [a, b] = queue.claim(anyType, 2);
    expect([a.taskId, b.taskId]).toEqual([first, second]);
    expect(a.params).toEqual({ n: 1 });
    expect(a.params).not.toBe(b.params);
    expect(a.createdAt.toISOString()).toBe('2026-12-05T10:00:00.000Z');
    expect(b.createdAt.toISOString()).toBe('2026-12-05T10:00:01.500Z');
    expect(queue.getTask(first)).toMatchObject({ status: 'running', attempts: 1 });
  });

  it('gives each task pushed without params an empty object of its own', () => {
    const queue = makeQueue();
    const ids = [queue.pushTask({ type: 't' }), ...queue.pushTasks([{ type: 't' }, { type: 't', params: undefined }])];
    const pending = queue.getTask(ids[2]).params as Record<string, unknown>;
    expect(pending).toEqual({});
    const claimed = queue.claim(only('t'), 3);
    expect(claimed.map((t) => t.taskId)).toEqual(ids);
    // a record is a copy: changing it reaches no task
    pending.changed = 'by a reader';
    expect(claimed[2].params).toEqual({});
    (claimed[0].params as Record<string, unknown>).changed = true;
    expect(claimed.map((t) => t.params)).toEqual([{ changed: true }, {}, {}]);
    expect(claimed[1].params).not.toBe(claimed[2].params);
  });

  it('stores the params it validated, reading them from the input once', () => {
    const queue = makeQueue();
    // a getter that answers differently on a second read: what was validated is what is stored
    const shifty = (first: unknown, later: unknown) => {
      let reads = 0;
      return { type: 't', get params() { return reads++ === 0 ? first : later; } };
    };
    const ids = [queue.pushTask(shifty({ a: 1 }, undefined)), queue.pushTask(shifty(undefined, { a: 2 })), ...queue.pushTasks([shifty({ a: 3 }, undefined), shifty(undefined, { a: 4 })])];
    expect(queue.claim(only('t'), 4).map((t) => [t.taskId, t.params])).toEqual([[ids[0], { a: 1 }], [ids[1], {}], [ids[2], { a: 3 }], [ids[3], {}]]);
  });

  it('keeps thousands of plain pushes in order across runs, with the same id found before and after the claim', () => {
    const queue = makeQueue();
    const ids = [...queue.pushTasks(Array.from({ length: 2500 }, (_, i) => ({ type: 't', params: { i } }))), ...Array.from({ length: 2500 }, (_, i) => queue.pushTask({ type: 't', params: { i: 2500 + i } }))];
    expect(queue.getTask(ids[3000]).params).toEqual({ i: 3000 });
    const claimed = queue.claim(only('t'), 10_000);
    expect(claimed.map((t) => t.taskId)).toEqual(ids);
    expect(claimed.map((t) => (t.params as { i: number }).i)).toEqual(ids.map((_, i) => i));
    expect(queue.getTask(ids[4999])).toMatchObject({ taskId: ids[4999], status: 'running' });
  });
});
