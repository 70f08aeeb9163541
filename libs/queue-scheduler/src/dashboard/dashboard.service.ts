import { BadRequestException, Inject, Injectable, NotFoundException, Optional } from '@nestjs/common';
import { TaskHandlerRegistry } from '../handlers/task-handler.registry';
import type { UpdateSchedulerTaskInput } from '../interfaces/schedule.interface';
import type { TaskStatus } from '../interfaces/task.interface';
import { QueueSchedulerMetrics } from '../metrics/queue-scheduler-metrics';
import { TaskQueue } from '../queue/task-queue';
import { SchedulerService } from '../scheduler/scheduler.service';
import { WorkerPoolService } from '../workers/worker-pool.service';
import type { ResolvedDashboardOptions } from './dashboard.options';
import { DashboardStreams } from './dashboard-streams';
import { RESOLVED_DASHBOARD_OPTIONS } from './dashboard.tokens';
import { asHttp, scheduleView, type ScheduleView, taskView, type TaskView } from './dashboard-views';

/** Tasks read at most to find one schedule's (the queue lists by status and type, not by schedule). */
const SCHEDULE_SCAN_LIMIT = 2000;
const SCAN_PAGE = 200;
/** Dead tasks retried by one bulk action; the next click takes the next ones. */
export const BULK_LIMIT = 500;
const EDITABLE = ['name', 'description', 'scheduleType', 'intervalSeconds', 'cronExpression', 'timezone', 'executeAt', 'params', 'priority', 'maxRuns', 'misfirePolicy', 'overlap'] as const;

export interface TaskQuery {
  status?: TaskStatus;
  type?: string;
  schedule?: string;
  limit: number;
  cursor?: string;
}

/** What the page reads and does, through the backend-neutral TaskQueue and SchedulerService only. */
@Injectable()
export class DashboardService {
  constructor(
    private readonly queue: TaskQueue,
    private readonly workers: WorkerPoolService,
    private readonly registry: TaskHandlerRegistry,
    private readonly metrics: QueueSchedulerMetrics,
    private readonly streams: DashboardStreams,
    @Inject(RESOLVED_DASHBOARD_OPTIONS) private readonly options: ResolvedDashboardOptions,
    @Optional() private readonly scheduler?: SchedulerService,
  ) {}

  config() {
    const { title, readOnly, showStoreValues, maxClients } = this.options;
    return { title, readOnly, showStoreValues, maxClients, schedules: !!this.scheduler, capabilities: this.queue.capabilities };
  }

  async stats() {
    const [snap, instances] = await Promise.all([this.metrics.snapshot(), this.queue.runningByInstance()]);
    const byType = Object.entries(snap.types)
      .map(([type, t]) => ({ type, ...t.events, meanDurationMs: t.durationMs.count ? t.durationMs.sum / t.durationMs.count : null }))
      .sort((a, b) => a.type.localeCompare(b.type));
    return {
      byStatus: snap.tasksByStatus,
      queueDepth: snap.queueDepth,
      workers: { busy: this.workers.busy, size: this.workers.size, running: this.workers.running },
      // every instance sharing the queue by its busy workers; only this one's pool size is known here
      instances: instances.map((i) => (i.self ? { ...i, size: this.workers.size } : i)),
      since: snap.since,
      byType,
      throughput: this.streams.throughput(),
    };
  }

  async tasks(q: TaskQuery): Promise<{ items: TaskView[]; nextCursor?: string }> {
    if (!q.schedule) {
      const page = await asHttp(() => this.queue.listTasks({ status: q.status, type: q.type, limit: q.limit, cursor: q.cursor }));
      return { items: page.items.map(taskView), nextCursor: page.nextCursor };
    }
    const items: TaskView[] = [];
    let cursor = q.cursor;
    for (let scanned = 0; scanned < SCHEDULE_SCAN_LIMIT; ) {
      const from = cursor;
      const page = await asHttp(() => this.queue.listTasks({ status: q.status, type: q.type, limit: SCAN_PAGE, cursor: from }));
      scanned += page.items.length;
      cursor = page.nextCursor;
      for (let i = 0; i < page.items.length; i++) {
        if (page.items[i].schedulerTaskId !== q.schedule) continue;
        items.push(taskView(page.items[i]));
        if (items.length < q.limit) continue;
        // the page went on past the last task returned: the next page must start right after that one, not after the
        // page (its later matches would never be listed)
        if (i + 1 < page.items.length) cursor = (await asHttp(() => this.queue.listTasks({ status: q.status, type: q.type, limit: i + 1, cursor: from }))).nextCursor;
        return { items, nextCursor: cursor };
      }
      if (!cursor) break;
    }
    return { items, nextCursor: cursor };
  }

  async task(id: string): Promise<TaskView> {
    const view = taskView(await asHttp(() => this.queue.getTask(id)));
    // a flow's tree under this task, for the detail; none on a backend without flows (Redis refuses getFlow)
    const flow = await Promise.resolve()
      .then(() => this.queue.getFlow(id))
      .catch(() => undefined);
    if (flow !== undefined && flow.children.length > 0) view.flow = flow;
    return view;
  }

  async retry(id: string): Promise<TaskView> {
    await asHttp(() => this.queue.retryTask(id));
    return this.task(id);
  }

  async cancel(id: string): Promise<{ cancelled: boolean }> {
    await this.task(id); // an unknown id is a 404, not "not cancelled"
    return { cancelled: await asHttp(() => this.queue.cancelTask(id)) };
  }

  async delete(id: string): Promise<{ deleted: boolean }> {
    await this.task(id); // an unknown id is a 404, not "not deleted"
    return { deleted: await asHttp(() => this.queue.deleteTask(id)) };
  }

  /** Deletes up to BULK_LIMIT dead tasks (of one type when given), in the order listTasks returns them. */
  async deleteDead(type?: string): Promise<{ deleted: number; errors: string[] }> {
    const { done, errors } = await this.eachDead(type, (id) => this.queue.deleteTask(id));
    return { deleted: done, errors };
  }

  /** Retries up to BULK_LIMIT dead tasks (of one type when given); each retried task leaves the dead list. */
  async retryDead(type?: string): Promise<{ retried: number; errors: string[] }> {
    const { done, errors } = await this.eachDead(type, async (id) => {
      await this.queue.retryTask(id);
      return true;
    });
    return { retried: done, errors };
  }

  /** The bulk actions' one loop: `act` on each of up to BULK_LIMIT dead tasks; a refusal is counted apart, never thrown. */
  private async eachDead(type: string | undefined, act: (taskId: string) => Promise<boolean> | boolean): Promise<{ done: number; errors: string[] }> {
    const page = await asHttp(() => this.queue.listTasks({ status: 'dead', type, limit: BULK_LIMIT }));
    const errors: string[] = [];
    let done = 0;
    for (const task of page.items) {
      try {
        if (await act(task.taskId)) done++;
      } catch (err) {
        errors.push(`${task.taskId}: ${(err as Error).message}`);
      }
    }
    return { done, errors };
  }

  async types() {
    const paused = new Set(await this.queue.listPausedTypes());
    const handled = this.registry.all().map((h) => ({
      type: h.type,
      handler: h.name,
      paused: paused.has(h.type),
      // JSON has no Infinity: null says "no cap beyond the pool's size" on purpose
      concurrency: Number.isFinite(h.concurrency) ? h.concurrency : null,
      timeoutMs: h.timeoutMs ?? null,
      maxAttempts: h.retries.attempts,
      rateLimit: h.rateLimit ?? null,
    }));
    // a type paused by another instance (or before its handler was deployed) is still worth seeing
    const others = [...paused].filter((t) => !this.registry.get(t)).map((type) => ({ type, handler: null, paused: true, concurrency: null, timeoutMs: null, maxAttempts: null, rateLimit: null }));
    return [...handled, ...others].sort((a, b) => a.type.localeCompare(b.type));
  }

  async pauseType(type: string, pause: boolean): Promise<{ type: string; paused: boolean }> {
    await asHttp(() => (pause ? this.queue.pauseType(type) : this.queue.resumeType(type)));
    return { type, paused: (await this.queue.listPausedTypes()).includes(type) };
  }

  async schedules(): Promise<ScheduleView[]> {
    return (await this.requireScheduler().listSchedules()).map((s) => scheduleView(s));
  }

  /** One schedule with its latest occurrences found in the queue (start − scheduledAt is their lag); `from`: its next runs after then. */
  async schedule(id: string, from?: Date): Promise<ScheduleView & { lastRuns: TaskView[] }> {
    const row = await asHttp(() => this.requireScheduler().getSchedule(id));
    const { items } = await this.tasks({ schedule: id, limit: 10 });
    return { ...scheduleView(row, from), lastRuns: items };
  }

  async scheduleAction(id: string, action: 'pause' | 'resume' | 'run'): Promise<ScheduleView | { taskId: string }> {
    const scheduler = this.requireScheduler();
    if (action === 'run') return { taskId: await asHttp(() => scheduler.runNow(id)) };
    return scheduleView(await asHttp(() => (action === 'pause' ? scheduler.pauseSchedule(id) : scheduler.resumeSchedule(id))));
  }

  async editSchedule(id: string, body: unknown): Promise<ScheduleView> {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new BadRequestException('the body must be a JSON object of the fields to change');
    const unknown = Object.keys(body).filter((k) => !(EDITABLE as readonly string[]).includes(k));
    if (unknown.length) throw new BadRequestException(`cannot edit ${unknown.join(', ')}: the editable fields are ${EDITABLE.join(', ')}`);
    const patch = { ...body } as Record<string, unknown>;
    if (typeof patch.executeAt === 'string' || typeof patch.executeAt === 'number') patch.executeAt = new Date(patch.executeAt);
    return scheduleView(await asHttp(() => this.requireScheduler().updateSchedule(id, patch as UpdateSchedulerTaskInput)));
  }

  /** Keys sorted; values only with `showStoreValues`, since the store holds cookies and tokens. */
  async store(): Promise<{ masked: boolean; entries: Array<{ key: string; value?: unknown }> }> {
    const keys = (await this.queue.listKeys()).sort().slice(0, BULK_LIMIT);
    if (!this.options.showStoreValues) return { masked: true, entries: keys.map((key) => ({ key })) };
    const entries = await Promise.all(keys.map(async (key) => ({ key, value: await this.queue.getPublic(key) })));
    return { masked: false, entries };
  }

  private requireScheduler(): SchedulerService {
    if (!this.scheduler) throw new NotFoundException('no schedules: QueueSchedulerModule runs without a database (dataSource: false)');
    return this.scheduler;
  }
}
