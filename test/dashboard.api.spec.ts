import { type CanActivate, type DynamicModule, Injectable, type INestApplication, type LoggerService, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { nextOccurrences, QueueSchedulerModule, SchedulerService, type TaskContext, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { type QueueSchedulerDashboardExtras, QueueSchedulerDashboardModule, type QueueSchedulerDashboardOptions } from 'nestjs-queue-scheduler/dashboard';
import { DataSource } from 'typeorm';
import { useTestDatabase } from './support/databases';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

jest.setTimeout(30_000);

type QueueBackend = 'memory' | 'database' | 'redis';
const TABLES = ['task_queue', 'queue_store', 'scheduler_task', 'queue_paused_type', 'queue_rate_window', 'task_singleton'];

/** Handlers whose outcome a test decides: `flaky` fails while `failing` is set, `slow` runs until cancelled. */
@Injectable()
class Handlers {
  static failing = true;

  @TaskHandler('work')
  work(): string {
    return 'done';
  }

  @TaskHandler('flaky', { retries: { attempts: 1 } })
  flaky(): string {
    if (Handlers.failing) throw new Error('flaky failed on purpose');
    return 'recovered';
  }

  @TaskHandler('slow', { rateLimit: { max: 5, perMs: 1000 } })
  slow(_params: unknown, ctx: TaskContext): Promise<void> {
    return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  }
}

@Injectable()
class AllowGuard implements CanActivate {
  static calls = 0;
  canActivate(): boolean {
    AllowGuard.calls++;
    return true;
  }
}

@Injectable()
class DenyGuard implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

type DashboardConfig = Partial<QueueSchedulerDashboardOptions & QueueSchedulerDashboardExtras>;

interface Route {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  sse: boolean;
}

/** Every route of the dashboard's controller, read from its own metadata: a route added later is walked too. */
function routesOf(module: DynamicModule): Route[] {
  const controller = module.controllers![0] as Type<unknown>;
  const proto = controller.prototype as Record<string, unknown>;
  return Object.getOwnPropertyNames(proto)
    .filter((name) => name !== 'constructor')
    .map((name) => {
      const fn = proto[name] as object;
      const method = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'][Reflect.getMetadata('method', fn) as number] as Route['method'];
      return { method, path: Reflect.getMetadata('path', fn) as string, sse: Reflect.getMetadata('__sse__', fn) === true };
    });
}

describe.each<QueueBackend>(['memory', 'database', 'redis'])('dashboard API on the %s queue', (backend) => {
  const db = useTestDatabase('sqlite');
  let app: INestApplication | undefined;
  let base = '';
  // every prefix a test booted with: a test that boots twice left its first app's keys on the shared server
  const prefixes: string[] = [];

  afterEach(async () => {
    await app?.close();
    app = undefined;
    for (const prefix of prefixes.splice(0)) await dropPrefix(prefix);
  });

  async function boot(dashboard: DashboardConfig | DynamicModule = {}, logger?: LoggerService): Promise<INestApplication> {
    const prefix = backend === 'redis' ? testPrefix() : '';
    if (prefix) prefixes.push(prefix);
    const queue = backend === 'redis' ? { backend, connection: REDIS, prefix } : { backend };
    const mounted = 'module' in dashboard ? dashboard : QueueSchedulerDashboardModule.forRoot(dashboard);
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', queue: { ...queue, pollIntervalMs: 50 }, retries: { attempts: 1, delayMs: 10 } }),
        mounted,
      ],
      providers: [Handlers, AllowGuard, DenyGuard],
    })
      .setLogger(logger ?? { log() {}, error() {}, warn() {} })
      .compile();
    // forceCloseConnections: fetch keeps sockets alive, and open event streams would hold app.close()
    app = moduleRef.createNestApplication({ logger: logger ?? false, forceCloseConnections: true });
    const ds = app.get(DataSource);
    for (const table of TABLES) await ds.query(`DELETE FROM ${table}`);
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    Handlers.failing = true;
    return app;
  }

  const queue = () => app!.get(TaskQueue);
  const scheduler = () => app!.get(SchedulerService);
  const sameOrigin = () => ({ origin: base, 'content-type': 'application/json' });

  function call(method: string, path: string, headers: Record<string, string> = sameOrigin(), body?: unknown): Promise<Response> {
    return fetch(`${base}${path}`, { method, headers, body: body === undefined ? (method === 'GET' ? undefined : '{}') : JSON.stringify(body) });
  }

  async function json<T = Record<string, unknown>>(res: Response | Promise<Response>, status = 200): Promise<T> {
    const r = await res;
    const text = await r.text();
    if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${text}`);
    return JSON.parse(text) as T;
  }

  /** A dead task, a pending one far in the future, a schedule that will not fire during the test, a store key. */
  async function seed(): Promise<{ dead: string; waiting: string; scheduleId: string }> {
    const dead = await queue().pushTask({ type: 'flaky', maxRetries: 0 });
    await waitFor(async () => (await queue().getTask(dead)).status === 'dead', 'the flaky task to die');
    const waiting = await queue().pushTask({ type: 'work', delayMs: 3_600_000 });
    const schedule = await scheduler().addSchedule({ name: 'yearly report', taskType: 'work', scheduleType: 'cron', cronExpression: '0 3 1 1 *', timezone: 'Europe/Berlin' });
    await queue().setPublic('session_cookie', 'SID=secret-token-123');
    return { dead, waiting, scheduleId: schedule.taskId };
  }

  /** Everything an action could change, read through the library's own API. */
  async function snapshot(ids: string[]) {
    const tasks = await Promise.all(ids.map(async (id) => ({ id, ...(({ status, attempts, runAt }) => ({ status, attempts, runAt }))(await queue().getTask(id)) })));
    const schedules = (await scheduler().listSchedules()).map(({ taskId, enabled, nextRunAt, runCount, version, cronExpression }) => ({ taskId, enabled, nextRunAt, runCount, version, cronExpression }));
    return { counts: await queue().countByStatus(), tasks, schedules, paused: await queue().listPausedTypes(), keys: await queue().listKeys() };
  }

  function fill(path: string, ids: { dead: string; scheduleId: string }): string {
    return `/queues/${path}`
      .replace(':id', path.startsWith('api/schedules') ? ids.scheduleId : ids.dead)
      .replace(':type', 'work')
      .replace(':file', 'dashboard.js')
      .replace(/\/$/, '');
  }

  it('is read-only by default: every action answers 403, the config says so, and nothing changes', async () => {
    await boot();
    const ids = await seed();
    expect(await json(call('GET', '/queues/api/config'))).toMatchObject({ readOnly: true, showStoreValues: false, schedules: true });
    const before = await snapshot([ids.dead, ids.waiting]);
    const actions = routesOf(QueueSchedulerDashboardModule.forRoot({})).filter((r) => r.method !== 'GET');
    expect(actions.length).toBeGreaterThanOrEqual(9);
    for (const route of actions) {
      const res = await call(route.method, fill(route.path, ids), sameOrigin(), route.method === 'PUT' ? { cronExpression: '*/5 * * * *' } : undefined);
      expect({ route: `${route.method} ${route.path}`, status: res.status }).toEqual({ route: `${route.method} ${route.path}`, status: 403 });
      expect(await res.text()).toContain('read-only');
    }
    expect(await snapshot([ids.dead, ids.waiting])).toEqual(before);
  });

  it('with a guard that allows: retries a dead task, cancels pending and running ones, pauses and resumes a type, runs and pauses a schedule', async () => {
    await boot({ guards: [AllowGuard] });
    const ids = await seed();
    expect(await json(call('GET', '/queues/api/config'))).toMatchObject({ readOnly: false });
    const calls = AllowGuard.calls;

    Handlers.failing = false;
    await json(call('POST', `/queues/api/tasks/${ids.dead}/retry`));
    expect(AllowGuard.calls).toBe(calls + 1);
    await waitFor(async () => (await queue().getTask(ids.dead)).status === 'succeeded', 'the retried task to succeed');

    expect(await json(call('POST', `/queues/api/tasks/${ids.waiting}/cancel`))).toEqual({ cancelled: true });
    expect((await queue().getTask(ids.waiting)).status).toBe('cancelled');
    const running = await queue().pushTask({ type: 'slow' });
    await waitFor(async () => (await queue().getTask(running)).status === 'running', 'the slow task to start');
    expect(await json(call('POST', `/queues/api/tasks/${running}/cancel`))).toEqual({ cancelled: true });
    await waitFor(async () => (await queue().getTask(running)).status === 'cancelled', 'the running task to end cancelled');
    expect((await call('POST', '/queues/api/tasks/no-such-task/cancel')).status).toBe(404);

    expect(await json(call('POST', '/queues/api/types/work/pause'))).toEqual({ type: 'work', paused: true });
    expect(await queue().listPausedTypes()).toEqual(['work']);
    const types = await json<Array<Record<string, unknown>>>(call('GET', '/queues/api/types'));
    expect(types.find((t) => t.type === 'work')).toMatchObject({ paused: true });
    expect(types.find((t) => t.type === 'slow')).toMatchObject({ paused: false, rateLimit: { max: 5, perMs: 1000 } });
    expect(await json(call('POST', '/queues/api/types/work/resume'))).toEqual({ type: 'work', paused: false });
    expect(await queue().listPausedTypes()).toEqual([]);

    const { taskId } = await json<{ taskId: string }>(call('POST', `/queues/api/schedules/${ids.scheduleId}/run`));
    await waitFor(async () => (await queue().getTask(taskId)).status === 'succeeded', 'the run-now occurrence');
    expect((await queue().getTask(taskId)).schedulerTaskId).toBe(ids.scheduleId);
    const detail = await json<{ lastRuns: Array<{ taskId: string; lagMs: number }> }>(call('GET', `/queues/api/schedules/${ids.scheduleId}`));
    expect(detail.lastRuns.map((r) => r.taskId)).toEqual([taskId]);
    expect(detail.lastRuns[0].lagMs).toBeNull(); // run-now is an extra run, not an occurrence with a scheduled time
    expect(await json(call('POST', `/queues/api/schedules/${ids.scheduleId}/pause`))).toMatchObject({ enabled: false, state: 'paused', nextRuns: [] });
    expect((await scheduler().getSchedule(ids.scheduleId)).enabled).toBe(false);
    const resumed = await json<{ nextRuns: string[] }>(call('POST', `/queues/api/schedules/${ids.scheduleId}/resume`));
    expect(resumed.nextRuns).toHaveLength(5);

    const edited = await json<{ cronExpression: string; describedAs: string }>(call('PUT', `/queues/api/schedules/${ids.scheduleId}`, sameOrigin(), { cronExpression: '30 9 * * 1-5' }));
    expect(edited).toMatchObject({ cronExpression: '30 9 * * 1-5', describedAs: 'at 09:30, on weekdays (Europe/Berlin)' });
    const bad = await call('PUT', `/queues/api/schedules/${ids.scheduleId}`, sameOrigin(), { cronExpression: 'not a cron' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('cronExpression');
    expect((await call('PUT', `/queues/api/schedules/${ids.scheduleId}`, sameOrigin(), { runCount: 0 })).status).toBe(400);
  });

  it("shows a schedule's next runs, its timing in words, and its last runs with their lag", async () => {
    await boot();
    const every = await scheduler().addSchedule({ name: 'tick', taskType: 'work', scheduleType: 'interval', intervalSeconds: 1 });
    type Detail = { describedAs: string; nextRuns: string[]; lastRuns: Array<{ status: string; scheduledAt: string; startedAt: string; lagMs: number }> };
    let detail: Detail | undefined;
    await waitFor(async () => {
      detail = await json<Detail>(call('GET', `/queues/api/schedules/${every.taskId}`));
      return detail.lastRuns.some((r) => r.status === 'succeeded');
    }, 'an occurrence of the interval schedule to run', 15_000);
    const run = detail!.lastRuns.find((r) => r.status === 'succeeded')!;
    expect(run.lagMs).toBe(new Date(run.startedAt).getTime() - new Date(run.scheduledAt).getTime());
    expect(detail!.describedAs).toBe('every 1 second');
    const next = detail!.nextRuns.map((d) => new Date(d).getTime());
    expect(next).toHaveLength(5);
    expect(next.slice(1).map((t, i) => t - next[i])).toEqual([1000, 1000, 1000, 1000]);
    const list = await json<Array<{ taskId: string; state: string }>>(call('GET', '/queues/api/schedules'));
    expect(list).toEqual([expect.objectContaining({ taskId: every.taskId, state: 'active' })]);
    const filtered = await json<{ items: Array<{ schedulerTaskId: string }> }>(call('GET', `/queues/api/tasks?schedule=${every.taskId}`));
    expect(filtered.items.length).toBeGreaterThan(0);
    expect(filtered.items.every((t) => t.schedulerTaskId === every.taskId)).toBe(true);
  });

  it("pages through a schedule's tasks with nextCursor, each once, none skipped", async () => {
    await boot();
    const mine: string[] = [];
    for (let i = 0; i < 30; i++) {
      mine.push(await queue().pushTask({ type: 'work', delayMs: 3_600_000, schedulerTaskId: 'sched-paging' }));
      await queue().pushTask({ type: 'work', delayMs: 3_600_000 });
    }
    const listed: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await json<{ items: Array<{ taskId: string }>; nextCursor?: string }>(
        call('GET', `/queues/api/tasks?schedule=sched-paging&limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`),
      );
      listed.push(...page.items.map((t) => t.taskId));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(listed).toEqual([...mine].reverse());
  });

  it("lists a schedule's next runs after ?from=, equal to nextOccurrences of its timing (across a DST change), and refuses a bad from", async () => {
    await boot();
    const timing = { scheduleType: 'cron' as const, cronExpression: '30 2 * * *', timezone: 'Europe/Berlin' };
    const s = await scheduler().addSchedule({ name: 'nightly', taskType: 'work', ...timing });
    // a date after the schedule's next run (listed runs never come before it), before a fall-back night
    const from = '2030-10-24T12:00:00Z';
    const detail = await json<{ nextRuns: string[] }>(call('GET', `/queues/api/schedules/${s.taskId}?from=${from}`));
    expect(detail.nextRuns).toEqual(nextOccurrences(timing, 5, new Date(from)).map((d) => d.toISOString()));
    expect(detail.nextRuns).toContain('2030-10-27T00:30:00.000Z'); // 02:30 CEST, the first pass of the repeated hour only
    expect(detail.nextRuns).toEqual(await scheduler().nextOccurrences(s.taskId, 5, new Date(from)).then((runs) => runs.map((d) => d.toISOString())));
    // without from: from the stored next run, as the scheduler will fire them
    const now = await json<{ nextRuns: string[]; nextRunAt: string }>(call('GET', `/queues/api/schedules/${s.taskId}`));
    expect(now.nextRuns[0]).toBe(now.nextRunAt);
    expect(now.nextRuns).toEqual((await scheduler().nextOccurrences(s.taskId)).map((d) => d.toISOString()));
    for (const limit of ['0x10', '1e2', ' 5', '5.0', '0', '201', '-1']) {
      const res = await call('GET', `/queues/api/tasks?limit=${encodeURIComponent(limit)}`);
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('limit must be an integer from 1 to 200');
    }
    expect((await call('GET', '/queues/api/tasks?limit=200')).status).toBe(200);
    for (const bad of ['yesterday', '2026-13-40T00:00:00Z', '1700000000000']) {
      const res = await call('GET', `/queues/api/schedules/${s.taskId}?from=${encodeURIComponent(bad)}`);
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('from must be an ISO 8601 date');
    }
  });

  it('answers the access probe: 200 when the guards let this request act, their 403 when not', async () => {
    await boot({ guards: [AllowGuard] });
    expect(await json(call('POST', '/queues/api/access'))).toEqual({ actions: true });
    await app!.close();
    await boot({ guards: [DenyGuard] });
    expect((await call('POST', '/queues/api/access')).status).toBe(403);
  });

  it("shows a task's error with its stack and its tries, and busy workers per instance", async () => {
    await boot({ guards: [AllowGuard] });
    const { dead } = await seed();
    type Detail = { errorStack: string; tries: Array<{ attempt: number; outcome: string; error: string; errorStack: string; startedAt: string }> };
    const detail = await json<Detail>(call('GET', `/queues/api/tasks/${dead}`));
    expect(detail.errorStack).toMatch(/^Error: flaky failed on purpose\n\s+at /);
    expect(detail.tries).toEqual([expect.objectContaining({ attempt: 1, outcome: 'failed', error: 'flaky failed on purpose', errorStack: detail.errorStack })]);
    // retried by hand and succeeding: the failed try stays, the new one follows
    Handlers.failing = false;
    await json(call('POST', `/queues/api/tasks/${dead}/retry`));
    await waitFor(async () => (await queue().getTask(dead)).status === 'succeeded', 'the retried task');
    const after = await json<Detail>(call('GET', `/queues/api/tasks/${dead}`));
    expect(after.tries.map((t) => [t.attempt, t.outcome])).toEqual([[1, 'failed'], [1, 'succeeded']]);

    const running = await queue().pushTask({ type: 'slow' });
    await waitFor(async () => (await queue().getTask(running)).status === 'running', 'the slow task to start');
    if (backend === 'database') {
      // a task another instance runs, as its lease says
      await app!.get(DataSource).query(
        "INSERT INTO task_queue (task_id, seq, task_type, params, status, priority, run_at, attempts, retry_count, created_at, started_at, lease_owner, lease_expires_at) VALUES ('elsewhere', 1, 'slow', '{}', 'running', 0, 1, 1, 0, 1, 1, 'other-host:42:beef01', ?)",
        [Date.now() + 60_000],
      );
    }
    type Stats = { workers: { size: number }; instances: Array<{ instance: string; running: number; self: boolean; size?: number }> };
    const stats = await json<Stats>(call('GET', '/queues/api/stats'));
    const self = stats.instances.find((i) => i.self)!;
    expect(self).toMatchObject({ running: 1, size: stats.workers.size });
    expect(self.instance).toContain(`:${process.pid}`);
    const others = stats.instances.filter((i) => !i.self);
    expect(others).toEqual(backend === 'database' ? [{ instance: 'other-host:42:beef01', running: 1, self: false }] : []);
    await queue().cancelTask(running);
  });

  it("shows a flow parent's children, with their statuses, in its detail", async () => {
    await boot({ guards: [AllowGuard] });
    if (backend === 'redis') {
      // no flows on Redis yet: a task's detail simply has none
      const id = await queue().pushTask({ type: 'work', delayMs: 3_600_000 });
      expect((await json<{ flow?: unknown }>(call('GET', `/queues/api/tasks/${id}`))).flow).toBeUndefined();
      return;
    }
    const ids = await queue().pushFlow({ type: 'work', children: [{ type: 'work', delayMs: 3_600_000 }, { type: 'work', delayMs: 3_600_000, onChildFailure: 'ignore' }] });
    type Detail = { status: string; flow: { children: Array<{ taskId: string; status: string; onChildFailure: string }> } };
    const detail = await json<Detail>(call('GET', `/queues/api/tasks/${ids.taskId}`));
    expect(detail.status).toBe('waiting');
    expect(detail.flow.children).toEqual([
      expect.objectContaining({ taskId: ids.children[0].taskId, status: 'pending', onChildFailure: 'fail' }),
      expect.objectContaining({ taskId: ids.children[1].taskId, status: 'pending', onChildFailure: 'ignore' }),
    ]);
    const child = await json<{ parentId: string; flow?: unknown }>(call('GET', `/queues/api/tasks/${ids.children[0].taskId}`));
    expect(child).toMatchObject({ parentId: ids.taskId });
    expect(child.flow).toBeUndefined();
    expect(await json(call('POST', `/queues/api/tasks/${ids.taskId}/cancel`))).toEqual({ cancelled: true });
  });

  it('retries every dead task with one bulk action', async () => {
    await boot({ guards: [AllowGuard] });
    const dead = await Promise.all([1, 2, 3].map(() => queue().pushTask({ type: 'flaky', maxRetries: 0 })));
    await waitFor(async () => (await queue().countByStatus()).dead === 3, 'three dead tasks');
    Handlers.failing = false;
    expect(await json(call('POST', '/queues/api/dead-tasks/retry'))).toEqual({ retried: 3, errors: [] });
    await waitFor(async () => (await Promise.all(dead.map((id) => queue().getTask(id)))).every((t) => t.status === 'succeeded'), 'the retried tasks');
  });

  it('deletes a dead task, and every dead task with one bulk action; a pending one is refused', async () => {
    await boot({ guards: [AllowGuard] });
    const dead = await Promise.all([1, 2, 3].map(() => queue().pushTask({ type: 'flaky', maxRetries: 0 })));
    await waitFor(async () => (await queue().countByStatus()).dead === 3, 'three dead tasks');
    const waiting = await queue().pushTask({ type: 'flaky', delayMs: 60_000 });
    expect(await json(call('POST', `/queues/api/tasks/${encodeURIComponent(waiting)}/delete`))).toEqual({ deleted: false });
    expect(await json(call('POST', `/queues/api/tasks/${encodeURIComponent(dead[0])}/delete`))).toEqual({ deleted: true });
    expect((await call('GET', `/queues/api/tasks/${encodeURIComponent(dead[0])}`)).status).toBe(404);
    expect(await json(call('POST', '/queues/api/dead-tasks/delete'))).toEqual({ deleted: 2, errors: [] });
    expect((await queue().listTasks({ status: 'dead' })).items).toEqual([]);
    expect((await queue().getTask(waiting)).status).toBe('pending');
  });

  it("runs the app's guards after its own: a guard that refuses wins", async () => {
    await boot({ guards: [DenyGuard] });
    const ids = await seed();
    expect((await call('POST', `/queues/api/tasks/${ids.waiting}/cancel`)).status).toBe(403);
    expect((await queue().getTask(ids.waiting)).status).toBe('pending');
  });

  it('refuses actions sent with a foreign Origin, a cross-site fetch, or no origin at all', async () => {
    await boot({ guards: [AllowGuard] });
    const ids = await seed();
    const before = await snapshot([ids.dead, ids.waiting]);
    const calls = AllowGuard.calls;
    const foreign: Array<Record<string, string>> = [
      { origin: 'https://evil.example', 'content-type': 'application/json' },
      { origin: base.replace('127.0.0.1', 'localhost'), 'content-type': 'application/json' },
      { referer: 'https://evil.example/page', 'content-type': 'application/json' },
      { origin: base, 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' },
      { origin: 'null', 'content-type': 'application/json' },
      { 'content-type': 'application/json' },
    ];
    for (const route of routesOf(QueueSchedulerDashboardModule.forRoot({})).filter((r) => r.method !== 'GET')) {
      for (const headers of foreign) {
        const res = await call(route.method, fill(route.path, ids), headers, route.method === 'PUT' ? { cronExpression: '*/5 * * * *' } : undefined);
        expect({ route: route.path, headers, status: res.status }).toEqual({ route: route.path, headers, status: 403 });
      }
    }
    expect(AllowGuard.calls).toBe(calls); // refused before the app's guard ran
    expect(await snapshot([ids.dead, ids.waiting])).toEqual(before);
    // the same action from the page's own origin goes through
    expect(await json(call('POST', `/queues/api/tasks/${ids.waiting}/cancel`, { origin: base }))).toEqual({ cancelled: true });
  });

  it('changes nothing on any GET route, even with actions open', async () => {
    await boot({ guards: [AllowGuard], showStoreValues: true });
    const ids = await seed();
    const before = await snapshot([ids.dead, ids.waiting]);
    const gets = routesOf(QueueSchedulerDashboardModule.forRoot({})).filter((r) => r.method === 'GET');
    expect(gets.length).toBeGreaterThanOrEqual(10);
    for (const route of gets) {
      const res = await fetch(`${base}${fill(route.path, ids)}`, { headers: { origin: base } });
      expect({ route: route.path, status: res.status }).toEqual({ route: route.path, status: 200 });
      if (route.sse) await res.body!.cancel();
      else await res.arrayBuffer();
    }
    // the same walk with the query strings the page sends
    for (const query of ['status=dead', 'type=work', `schedule=${ids.scheduleId}`, 'limit=1']) await json(call('GET', `/queues/api/tasks?${query}`));
    expect(await snapshot([ids.dead, ids.waiting])).toEqual(before);
  });

  it('answers 503 past maxClients open live streams, and takes a new one once one closes', async () => {
    await boot({ maxClients: 2 });
    const open = async () => {
      const controller = new AbortController();
      const res = await fetch(`${base}/queues/api/events`, { signal: controller.signal });
      return { res, close: () => controller.abort() };
    };
    const [a, b] = [await open(), await open()];
    expect([a.res.status, b.res.status]).toEqual([200, 200]);
    const third = await open();
    expect(third.res.status).toBe(503);
    expect(await third.res.text()).toContain('maxClients 2');
    a.close();
    let fourth: Awaited<ReturnType<typeof open>> | undefined;
    await waitFor(async () => {
      fourth?.close();
      fourth = await open();
      return fourth.res.status === 200;
    }, 'a stream slot to free up');
    b.close();
    fourth!.close();
  });

  it('streams task events to the page', async () => {
    await boot();
    const res = await fetch(`${base}/queues/api/events`);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const read = async () => (text += new TextDecoder().decode((await reader.read()).value));
    await read();
    expect(text).toContain('event: hello');
    const id = await queue().pushTask({ type: 'work' });
    while (!text.includes('"kind":"succeeded"')) await read();
    expect(text).toContain(`"taskId":"${id}"`);
    await reader.cancel();
  });

  it('masks the public store unless showStoreValues is set', async () => {
    await boot();
    await seed();
    const masked = await call('GET', '/queues/api/store');
    const body = await masked.text();
    expect(JSON.parse(body)).toEqual({ masked: true, entries: [{ key: 'session_cookie' }] });
    expect(body).not.toContain('secret-token');
    await app!.close();
    await boot({ showStoreValues: true });
    await queue().setPublic('session_cookie', 'SID=secret-token-123');
    expect(await json(call('GET', '/queues/api/store'))).toEqual({ masked: false, entries: [{ key: 'session_cookie', value: 'SID=secret-token-123' }] });
  });

  it('serves the page and its files from the package, with a strict content security policy', async () => {
    await boot({ title: 'Ops <b>queue</b>' });
    const page = await fetch(`${base}/queues`);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('<base href="/queues/">');
    expect(html).toContain('Ops &#60;b&#62;queue&#60;/b&#62;');
    const script = await fetch(`${base}/queues/assets/dashboard.js`);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${base}/queues/assets/..%2Fdashboard.service.ts`)).status).toBe(404);
    expect((await fetch(`${base}/queues/assets/index.html`)).status).toBe(404);
  });

  it('mounts with forRootAsync at another path, options from a factory, and warns at boot when actions are open with no guard', async () => {
    const warnings: string[] = [];
    const logger: LoggerService = { log() {}, error() {}, warn: (m: string) => void warnings.push(String(m)) };
    await boot(QueueSchedulerDashboardModule.forRootAsync({ path: '/ops/jobs', useFactory: async () => ({ readOnly: false, title: 'Jobs' }) }), logger);
    expect(await json(call('GET', '/ops/jobs/api/config'))).toMatchObject({ readOnly: false, title: 'Jobs' });
    expect((await fetch(`${base}/queues/api/config`)).status).toBe(404);
    expect(warnings.join('\n')).toContain('the dashboard at /ops/jobs accepts actions');
  });
});

describe('the page', () => {
  it('puts data in as text: no script of it writes HTML', () => {
    const dir = join(__dirname, '..', 'libs', 'queue-scheduler', 'src', 'dashboard', 'assets');
    const scripts = readdirSync(dir).filter((f) => f.endsWith('.js'));
    expect(scripts).toEqual(expect.arrayContaining(['dashboard.js', 'tables.js', 'panels.js', 'dom.js']));
    for (const file of scripts) {
      const code = readFileSync(join(dir, file), 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
      expect({ file, sinks: code.match(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/g) }).toEqual({ file, sinks: null });
    }
  });
});

describe('dashboard options', () => {
  it('refuses a bad path or bad options with a typed error naming the field', async () => {
    expect(() => QueueSchedulerDashboardModule.forRoot({ path: 'queues' })).toThrow(/path must start with '\/'/);
    expect(() => QueueSchedulerDashboardModule.forRoot({ path: '/q/:id' })).toThrow(/path/);
    const moduleRef = Test.createTestingModule({
      imports: [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false }), QueueSchedulerDashboardModule.forRoot({ maxClients: -1 })],
    });
    await expect(moduleRef.compile()).rejects.toThrow(/maxClients must be an integer from 0 to 10000, got -1/);
  });
});
