import { type INestApplication, Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AddressInfo } from 'node:net';
import { QueueSchedulerModule, type QueueSchedulerModuleOptions, type TaskContext, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { QueueSchedulerDashboardModule } from 'nestjs-queue-scheduler/dashboard';
import type { DataSourceOptions } from 'typeorm';
import { DATABASES, type DatabaseKind, useTestDatabase } from './support/databases';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { useProxiedApp } from './support/tcp-proxy';
import { waitFor } from './support/wait-for';

/**
 * The dashboard while its backend is away: every route that reads or changes the queue answers 503
 * promptly instead of hanging for the outage, and app.close() is not held by a page that reconnects
 * its event stream while the shutdown lasts.
 */

jest.setTimeout(60_000);

@Injectable()
class Handlers {
  static started = 0;

  @TaskHandler('work')
  work(): string {
    return 'done';
  }

  /** Runs for `ms`, ignoring the abort: a shutdown has to drain it. */
  @TaskHandler('slow')
  async slow(params: { ms: number }, _ctx: TaskContext): Promise<void> {
    Handlers.started++;
    await new Promise((resolve) => setTimeout(resolve, params.ms));
  }
}

async function boot(connection: DataSourceOptions | null, queue: QueueSchedulerModuleOptions['queue'], extra: QueueSchedulerModuleOptions = {}): Promise<{ app: INestApplication; base: string }> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ...(connection ? [TypeOrmModule.forRoot({ ...connection, autoLoadEntities: true, synchronize: true, logging: false })] : []),
      QueueSchedulerModule.forRoot({ logLevel: 'fatal', queue, ...extra, ...(connection ? {} : { dataSource: false }) }),
      QueueSchedulerDashboardModule.forRoot({ path: '/queues', readOnly: false }),
    ],
    providers: [Handlers],
  }).compile();
  // no forceCloseConnections: what a connected page does to app.close() is under test
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, base: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}` };
}

/** A request's status, its message and how long it took. */
async function timed(base: string, method: 'GET' | 'POST', path: string): Promise<{ status: number; message: string; ms: number }> {
  const started = Date.now();
  const res = await fetch(`${base}/queues/api/${path}`, { method, headers: method === 'POST' ? { origin: base, 'content-type': 'application/json' } : {}, body: method === 'POST' ? '{}' : undefined });
  const body = (await res.json().catch(() => ({}))) as { message?: string };
  return { status: res.status, message: body.message ?? '', ms: Date.now() - started };
}

const READS = ['stats', 'tasks', 'types', 'store'];

describe('the dashboard while the backend is away', () => {
  const proxied = useProxiedApp();

  describe('redis backend', () => {
    const prefix = testPrefix();
    afterAll(() => dropPrefix(prefix));

    it('answers 503 at once while the connection is lost, applies no action refused meanwhile, and answers again after', async () => {
      const proxy = await proxied.start(REDIS.host, REDIS.port);
      const { app, base } = await boot(null, { backend: 'redis', connection: { host: '127.0.0.1', port: proxy.port }, prefix });
      proxied.app = app;
      await app.get(TaskQueue).pushTask({ type: 'work' });
      for (const path of READS) expect((await timed(base, 'GET', path)).status).toBe(200);

      proxy.cut('reset');
      await waitFor(async () => (await timed(base, 'GET', 'types')).status === 503, 'the dashboard to notice');
      for (const path of READS) {
        const res = await timed(base, 'GET', path);
        expect(res).toEqual({ status: 503, message: expect.stringMatching(/^the queue's backend is unavailable: the redis connection is /), ms: expect.any(Number) });
        expect(res.ms).toBeLessThan(1000);
      }
      const pause = await timed(base, 'POST', 'types/work/pause');
      expect(pause.status).toBe(503);
      expect(pause.ms).toBeLessThan(1000);

      proxy.restore();
      await waitFor(async () => (await timed(base, 'GET', 'types')).status === 200, 'the dashboard to answer again');
      // refused, so not sent: nothing waited in ioredis's offline queue to pause the type once Redis was back
      expect(await app.get(TaskQueue).listPausedTypes()).toEqual([]);
    });
  });

  const serverKinds = DATABASES.filter((k): k is Exclude<DatabaseKind, 'sqlite'> => k !== 'sqlite');
  (serverKinds.length ? describe.each(serverKinds) : describe.skip.each(['mariadb']))('database backend on %s', (kind) => {
    const db = useTestDatabase(kind as DatabaseKind);

    it('answers 503 within 5 s when the database stops answering, and 200 again after', async () => {
      const target = db.options as { host: string; port: number };
      const proxy = await proxied.start(target.host, target.port);
      const { app, base } = await boot({ ...db.options, host: '127.0.0.1', port: proxy.port } as DataSourceOptions, { backend: 'database' });
      proxied.app = app;
      expect((await timed(base, 'GET', 'tasks')).status).toBe(200);

      proxy.cut('hang');
      const res = await timed(base, 'GET', 'tasks');
      expect(res.status).toBe(503);
      expect(res.message).toBe("the queue's backend did not answer within 5 s");
      expect(res.ms).toBeLessThan(7000);
      const action = await timed(base, 'POST', 'types/work/pause');
      expect(action).toMatchObject({ status: 503, message: "the queue's backend did not answer within 5 s; the action may still take effect once it does" });

      proxy.restore();
      await waitFor(async () => (await timed(base, 'GET', 'tasks')).status === 200, 'the dashboard to answer again', 15_000);
    });
  });
});

describe('app.close() with a page connected', () => {
  it('refuses an event stream opened while the shutdown drains a task, so the close is not held by it', async () => {
    const { app, base } = await boot(null, { backend: 'memory' }, { shutdownTimeoutMs: 10_000 });
    const first = await fetch(`${base}/queues/api/events`);
    expect(first.status).toBe(200);
    const reader = first.body!.getReader();
    Handlers.started = 0;
    await app.get(TaskQueue).pushTask({ type: 'slow', params: { ms: 2000 } });
    await waitFor(() => Handlers.started === 1, 'the slow task to start');

    const closing = app.close();
    // the stream a page holds ends with the shutdown's first step...
    while (!(await reader.read()).done);
    // ...and the page reconnects while the pool still drains the slow task: refused, not served for ever
    const again = await fetch(`${base}/queues/api/events`);
    expect(again.status).toBe(503);
    expect(((await again.json()) as { message: string }).message).toBe('the app is shutting down');
    await closing;
  });
});
