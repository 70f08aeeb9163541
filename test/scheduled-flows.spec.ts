/**
 * @shares-machine schedules fire every second or seconds ahead and the suite waits for their trees; it checks order and
 * ids, never how late a start is
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import {
  type ChildResult,
  InvalidScheduleError,
  Scheduled,
  SchedulerService,
  SchedulerTask,
  TaskContext,
  TaskHandler,
  TaskQueue,
} from 'nestjs-queue-scheduler';
import type { DataSource } from 'typeorm';
import { bootApp } from './support/apps';
import { DATABASES, useTestDatabase } from './support/databases';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

interface FlowRun {
  taskId: string;
  type: string;
  params: unknown;
  parentId?: string;
  schedulerTaskId?: string;
  scheduledAt?: number;
  children?: Record<string, ChildResult>;
  /** Order of the handler's end among every run of the test. */
  order: number;
  startedAt: number;
}

/** Records every run of a flow's root and children; a root records the children's results it read. */
@Injectable()
class FlowHandlers {
  readonly runs: FlowRun[] = [];

  protected record(params: unknown, ctx: TaskContext, children?: Record<string, ChildResult>): void {
    const { taskId, type, parentId, schedulerTaskId, scheduledAt } = ctx.task;
    this.runs.push({ taskId, type, params, parentId, schedulerTaskId, scheduledAt: scheduledAt?.getTime(), children, order: this.runs.length, startedAt: Date.now() });
  }

  @TaskHandler('sf_root')
  async root(params: unknown, ctx: TaskContext): Promise<string> {
    this.record(params, ctx, await ctx.childResults());
    return 'root done';
  }

  @TaskHandler('sf_child')
  child(params: { n: number }, ctx: TaskContext): { doubled: number } {
    this.record(params, ctx);
    return { doubled: params.n * 2 };
  }

  roots(scheduleId: string): FlowRun[] {
    return this.runs.filter((r) => r.type !== 'sf_child' && r.schedulerTaskId === scheduleId);
  }

  childrenOf(parentId: string): FlowRun[] {
    return this.runs.filter((r) => r.parentId === parentId);
  }
}

/** The same tree, declared in code. */
@Injectable()
class DeclaredFlow extends FlowHandlers {
  @Scheduled({ key: 'sf-declared', interval: 1, params: { from: 'declared' }, flow: { children: [{ type: 'sf_child', params: { n: 10 } }, { type: 'sf_child', params: { n: 20 } }] } })
  @TaskHandler('sf_declared')
  async declared(params: unknown, ctx: TaskContext): Promise<void> {
    this.record(params, ctx, await ctx.childResults());
  }
}

/** Three children, the third with a child of its own: each occurrence is a tree of five tasks. */
const TEMPLATE = {
  children: [
    { type: 'sf_child', params: { n: 1 } },
    { type: 'sf_child', params: { n: 2 }, onChildFailure: 'continue' as const },
    { type: 'sf_child', params: { n: 3 }, children: [{ type: 'sf_child', params: { n: 4 } }] },
  ],
};

describe.each(DATABASES)('scheduled flows on %s', (kind) => {
  const db = useTestDatabase(kind);

  // the schedules table's side (claim, template column) differs per database and runs on each with the database
  // queue; the memory and redis queues push a claimed tree the same way whatever stores the schedules: once, on the first
  const queues = kind === DATABASES[0] ? (['memory', 'database', 'redis'] as const) : (['database'] as const);
  describe.each(queues)('with the %s queue', (backend) => {
    let app: INestApplication | undefined;
    let prefix: string | undefined;

    afterEach(async () => {
      if (!app) return;
      // one database per file: what a test left (schedules, queued tasks) must not run in the next
      const ds = app.get<DataSource>(getDataSourceToken());
      await app.get(SchedulerService).stop();
      await ds.query('DELETE FROM scheduler_task');
      await ds.query('DELETE FROM task_queue');
      await app.close();
      app = undefined;
      if (prefix) await dropPrefix(prefix);
      prefix = undefined;
    });

    const boot = async (handlers: typeof FlowHandlers = FlowHandlers, lookaheadMs?: number) => {
      const queue = backend === 'redis' ? { backend, connection: REDIS, prefix: (prefix = testPrefix()), pollIntervalMs: 100 } : { backend, pollIntervalMs: 100 };
      app = await bootApp(db, { queue, scheduler: { pollIntervalMs: 200, lookaheadMs } }, [handlers]);
      return { scheduler: app.get(SchedulerService), queue: app.get(TaskQueue), handlers: app.get(handlers) };
    };

    it('each occurrence of an interval flow schedule pushes its whole tree once; the root runs after its children and reads their results', async () => {
      const { scheduler, queue, handlers } = await boot();
      const s = await scheduler.addSchedule({ name: 'flow every second', taskType: 'sf_root', scheduleType: 'interval', intervalSeconds: 1, params: { p: 1 }, flow: TEMPLATE });
      expect((await scheduler.getSchedule(s.taskId)).flow).toEqual(TEMPLATE);
      await waitFor(() => handlers.roots(s.taskId).length >= 3, 'three occurrences run', 15_000);
      await scheduler.pauseSchedule(s.taskId);
      const roots = handlers.roots(s.taskId).slice(0, 3);

      // one root per occurrence, at whole intervals, with the occurrence's id and fields
      const times = roots.map((r) => r.scheduledAt!);
      expect(new Set(times).size).toBe(3);
      expect(times.slice(1).map((t, i) => t - times[i])).toEqual([1000, 1000]);
      for (const root of roots) {
        expect(root.taskId).toBe(`${s.taskId}:${root.scheduledAt}`);
        expect(root.params).toEqual({ p: 1 });
        const children = handlers.childrenOf(root.taskId);
        expect(children.map((c) => c.params)).toEqual(expect.arrayContaining([{ n: 1 }, { n: 2 }, { n: 3 }]));
        expect(children).toHaveLength(3);
        // children carry no schedule fields: only the root is the schedule's occurrence
        expect(children.every((c) => c.schedulerTaskId === undefined && c.scheduledAt === undefined)).toBe(true);
        const grandchildren = handlers.childrenOf(children.find((c) => (c.params as { n: number }).n === 3)!.taskId);
        expect(grandchildren.map((c) => c.params)).toEqual([{ n: 4 }]);
        // queued ahead (memory: lookaheadMs 750 ms by default), no task of the tree starts before the occurrence's time
        expect(Math.min(...[...children, ...grandchildren].map((c) => c.startedAt))).toBeGreaterThanOrEqual(root.scheduledAt!);
        // after all of them, and it saw each child's result
        expect(Math.max(...[...children, ...grandchildren].map((c) => c.order))).toBeLessThan(root.order);
        expect(root.children).toEqual(Object.fromEntries(children.map((c) => [c.taskId, { type: 'sf_child', status: 'succeeded', result: { doubled: 2 * (c.params as { n: number }).n } }])));
        // the handler has returned; its outcome is written right after
        await waitFor(async () => (await queue.getTask(root.taskId)).status === 'succeeded', 'the root recorded');
        const tree = await queue.getFlow(root.taskId);
        expect(tree).toMatchObject({ taskId: root.taskId, type: 'sf_root', status: 'succeeded' });
        expect(tree.children.map((c) => [c.status, c.onChildFailure, c.children.length])).toEqual([['succeeded', 'fail', 0], ['succeeded', 'continue', 0], ['succeeded', 'fail', 1]]);
      }
      // no occurrence ran twice, and no child ran outside a tree
      const all = handlers.roots(s.taskId);
      expect(new Set(all.map((r) => r.taskId)).size).toBe(all.length);
      expect(handlers.runs.filter((r) => r.type === 'sf_child' && r.parentId === undefined)).toEqual([]);
    });

    it('runNow pushes one extra tree, outside the schedule’s timing', async () => {
      const { scheduler, queue, handlers } = await boot();
      const s = await scheduler.addSchedule({ name: 'on demand', taskType: 'sf_root', scheduleType: 'cron', cronExpression: '0 0 1 1 *', flow: TEMPLATE });
      const id = await scheduler.runNow(s.taskId);
      await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'the extra tree done', 10_000);
      expect(handlers.childrenOf(id)).toHaveLength(3);
      expect((await queue.getFlow(id)).children).toHaveLength(3);
      expect((await scheduler.getSchedule(s.taskId)).runCount).toBe(0);
    });

    it("a waiting root is the schedule's unfinished run: overlap 'skip' drops the occurrences due meanwhile", async () => {
      const { scheduler, queue, handlers } = await boot();
      await queue.pauseType('sf_child');
      const s = await scheduler.addSchedule({ name: 'no overlap', taskType: 'sf_root', scheduleType: 'interval', intervalSeconds: 1, overlap: 'skip', flow: { children: [{ type: 'sf_child', params: { n: 1 } }] } });
      const skipped: number[] = [];
      const sub = scheduler.events$.subscribe((e) => e.kind === 'skipped' && skipped.push(e.skipped));
      await waitFor(() => skipped.length >= 2, 'two occurrences skipped while the first root waits', 10_000);
      // the skipped occurrences were never pushed: the one root waits for its child
      expect((await queue.listTasks({ type: 'sf_root' })).items.map((t) => t.status)).toEqual(['waiting']);
      await queue.resumeType('sf_child');
      await waitFor(() => handlers.roots(s.taskId).length >= 1, 'the first tree done', 10_000);
      await scheduler.pauseSchedule(s.taskId);
      sub.unsubscribe();
    });

    it('a change cancels the tree queued ahead; the occurrence, claimed again, runs a new tree under the same root id', async () => {
      const { scheduler, queue, handlers } = await boot(FlowHandlers, 2000);
      const s = await scheduler.addSchedule({ name: 'ahead', taskType: 'sf_root', scheduleType: 'interval', intervalSeconds: 4, params: { v: 1 }, flow: TEMPLATE });
      const rootId = `${s.taskId}:${s.nextRunAt!.getTime()}`;
      await waitFor(() => Promise.resolve().then(() => queue.getTask(rootId)).then((t) => t.status === 'waiting', () => false), 'the tree queued ahead', 10_000);
      const before = await queue.getFlow(rootId);
      await scheduler.updateSchedule(s.taskId, { params: { v: 2 } });
      await waitFor(async () => (await queue.getTask(rootId)).status === 'succeeded', 'the occurrence run', 10_000);
      await scheduler.pauseSchedule(s.taskId);
      const [root] = handlers.roots(s.taskId);
      expect(root).toMatchObject({ taskId: rootId, params: { v: 2 } });
      const after = await queue.getFlow(rootId);
      expect(after.children.map((c) => c.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
      // the first tree's children were cancelled with it and never ran; the new ones are others
      const oldIds = before.children.map((c) => c.taskId);
      expect(after.children.map((c) => c.taskId).filter((id) => oldIds.includes(id))).toEqual([]);
      // and let go of: they name no parent, as the new tree does not list them
      for (const id of oldIds) {
        const { status, parentId } = await queue.getTask(id);
        expect({ status, parentId }).toEqual({ status: 'cancelled', parentId: undefined });
      }
      expect(handlers.runs.filter((r) => oldIds.includes(r.taskId))).toEqual([]);
    });

    it('@Scheduled({ flow }) on a provider stores the template and fires trees', async () => {
      const { scheduler, handlers } = await boot(DeclaredFlow);
      const [row] = await scheduler.listSchedules();
      expect(row).toMatchObject({ scheduleKey: 'sf-declared', taskType: 'sf_declared', flow: { children: [{ type: 'sf_child', params: { n: 10 } }, { type: 'sf_child', params: { n: 20 } }] } });
      await waitFor(() => handlers.roots(row.taskId).length >= 1, 'one declared occurrence run', 10_000);
      const [root] = handlers.roots(row.taskId);
      expect(root.params).toEqual({ from: 'declared' });
      expect(Object.values(root.children!).map((c) => c.result)).toEqual(expect.arrayContaining([{ doubled: 20 }, { doubled: 40 }]));
    });

    it('a bad template is refused naming its path, and nothing is written', async () => {
      const { scheduler } = await boot();
      const base = { name: 'bad', taskType: 'sf_root', scheduleType: 'interval' as const, intervalSeconds: 60 };
      const refused = async (flow: unknown, field: string) => {
        const err = await scheduler.addSchedule({ ...base, flow: flow as never }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidScheduleError);
        expect((err as InvalidScheduleError).field).toBe(field);
        expect((err as Error).message).toContain(field);
      };
      await refused({ children: [{ type: 'sf_child' }, { type: 'sf_child' }, { type: '' }] }, 'flow.children[2].type');
      await refused({ children: [{ type: 'sf_child', children: [{ type: 'sf_child', onChildFailure: 'maybe' }] }] }, 'flow.children[0].children[0].onChildFailure');
      await refused({ children: [{ type: 'sf_child', taskId: 'mine' }] }, 'flow.children[0].taskId');
      await refused({ children: [{ type: 'sf_child', params: { f: () => 1 } }] }, 'flow.children[0].params.f');
      await refused({ children: [] }, 'flow.children');
      await refused({ children: [{ type: 'sf_child' }], type: 'other_root' }, 'flow.type');
      await refused([{ type: 'sf_child' }], 'flow');
      expect(await scheduler.listSchedules()).toEqual([]);

      // updateSchedule: the same rules, the row unchanged when refused; null removes the template
      const s = await scheduler.addSchedule({ ...base, flow: TEMPLATE });
      const err = await scheduler.updateSchedule(s.taskId, { flow: { children: [{ type: 'sf_child', priority: 1.5 }] } }).catch((e: unknown) => e);
      expect((err as InvalidScheduleError).field).toBe('flow.children[0].priority');
      expect((await scheduler.getSchedule(s.taskId)).flow).toEqual(TEMPLATE);
      expect((await scheduler.updateSchedule(s.taskId, { flow: null })).flow).toBeNull();
      const stored = await app!.get<DataSource>(getDataSourceToken()).getRepository(SchedulerTask).findOneByOrFail({ taskId: s.taskId });
      expect(stored.flow).toBeNull();
    });
  });
});
