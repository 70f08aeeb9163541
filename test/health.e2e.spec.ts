import { type INestApplication, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import {
  QueueSchedulerModule,
  type QueueSchedulerModuleOptions,
  SchedulerService,
  SchedulerTask,
  TaskQueue,
  WorkerPoolService,
} from 'nestjs-queue-scheduler';
import { QueueSchedulerHealthIndicator } from 'nestjs-queue-scheduler/health';
import type { DataSource, DataSourceOptions } from 'typeorm';
import { RecordingHandlers } from './support/apps';
import { type DatabaseKind, DATABASES, useTestDatabase } from './support/databases';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { TcpProxy } from './support/tcp-proxy';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

type Checks = Record<string, { status: string; error?: string; [k: string]: unknown }>;

async function boot(connection: DataSourceOptions | null, options: QueueSchedulerModuleOptions = {}): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ...(connection ? [TypeOrmModule.forRoot({ ...connection, autoLoadEntities: true, synchronize: true, logging: false })] : []),
      QueueSchedulerModule.forRoot({ logLevel: 'fatal', ...options, ...(connection ? {} : { dataSource: false }) }),
      TerminusModule,
    ],
    providers: [RecordingHandlers, QueueSchedulerHealthIndicator],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

/** The indicator's result for the key 'queue_scheduler', as `{ status, ...checks }`. */
async function health(app: INestApplication, options = {}): Promise<{ status: string } & Checks> {
  const result = await app.get(QueueSchedulerHealthIndicator).isHealthy('queue_scheduler', options);
  return result.queue_scheduler as { status: string } & Checks;
}

type ServerKind = Exclude<DatabaseKind, 'sqlite'>;
const serverKinds = DATABASES.filter((k): k is ServerKind => k !== 'sqlite');

describe.each(DATABASES)('QueueSchedulerHealthIndicator on %s', (kind) => {
  const db = useTestDatabase(kind);
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('is up with each check listed, and terminus answers ok', async () => {
    app = await boot(db.options);
    expect(await health(app)).toEqual({
      status: 'up',
      database: { status: 'up', responseTimeMs: expect.any(Number) },
      scheduler: { status: 'up', running: true },
      scheduleLag: { status: 'up', lagMs: 0, overdue: 0, maxLagMs: 60_000 },
      workers: { status: 'up', running: true, busy: 0, size: 3 },
    });
    const result = await app.get(HealthCheckService).check([() => app!.get(QueueSchedulerHealthIndicator).isHealthy()]);
    expect(result.status).toBe('ok');
  });

  it('is down while the scheduler and the workers are not started (autoStart: false), up once they are', async () => {
    app = await boot(db.options, { autoStart: false });
    const down = await health(app);
    expect(down.status).toBe('down');
    expect(down.scheduler).toEqual({ status: 'down', running: false, error: 'the scheduler is not running' });
    expect(down.workers).toMatchObject({ status: 'down', running: false, error: 'the worker pool is not running' });
    expect(down.database.status).toBe('up');
    app.get(SchedulerService).start();
    app.get(WorkerPoolService).start();
    expect((await health(app)).status).toBe('up');
  });

  it('reports the oldest overdue occurrence and fails beyond maxScheduleLagMs; a running scheduler clears it', async () => {
    // scheduler.enabled false: this instance fires nothing, so the schedule stays overdue (a scheduler outage)
    app = await boot(db.options, { scheduler: { enabled: false } });
    const s = await app.get(SchedulerService).addSchedulerTask({ name: 'overdue', taskType: 'tick', scheduleType: 'interval', intervalSeconds: 10 });
    const rows = app.get<DataSource>(getDataSourceToken()).getRepository(SchedulerTask);
    await rows.update({ taskId: s.taskId }, { nextRunAt: new Date(Date.now() - 120_000) });
    const late = await health(app);
    expect(late.status).toBe('down');
    expect(late.scheduler).toEqual({ status: 'up', running: false, enabled: false });
    expect(late.scheduleLag).toMatchObject({ status: 'down', overdue: 1, maxLagMs: 60_000 });
    expect(late.scheduleLag.lagMs).toBeGreaterThanOrEqual(120_000);
    expect(late.scheduleLag.error).toMatch(/^the oldest due occurrence is \d+ ms late \(more than 60000 ms\)$/);
    expect((await health(app, { maxScheduleLagMs: Infinity })).status).toBe('up');
    await app.close();

    app = await boot(db.options);
    await waitFor(async () => (await health(app!)).status === 'up', 'the scheduler to fire the overdue occurrence');
    expect((await health(app)).scheduleLag).toMatchObject({ lagMs: 0, overdue: 0 });
  });
});

// SQLite is a file: there is no connection to cut. (describe.each refuses an empty table, e.g. with TEST_DATABASES=sqlite.)
(serverKinds.length ? describe.each(serverKinds) : describe.skip.each<ServerKind>(['mariadb']))('QueueSchedulerHealthIndicator on %s behind a TCP proxy', (kind) => {
  const db = useTestDatabase(kind);
  let proxy: TcpProxy;
  let app: INestApplication | undefined;

  beforeEach(async () => {
    const target = db.options as { host: string; port: number };
    proxy = await TcpProxy.start(target.host, target.port);
  });
  afterEach(async () => {
    proxy.restore();
    await app?.close();
    app = undefined;
    await proxy.close();
  });

  const viaProxy = (): DataSourceOptions => ({ ...db.options, host: '127.0.0.1', port: proxy.port }) as DataSourceOptions;

  it.each(['memory', 'database'] as const)('reports down when the database stops and up again when it returns (queue.backend %s)', async (backend) => {
    app = await boot(viaProxy(), { queue: { backend } });
    expect((await health(app)).status).toBe('up');

    proxy.cut('reset');
    const down = await health(app);
    expect(down.status).toBe('down');
    expect(down.database.status).toBe('down');
    expect(down.database.error).toEqual(expect.any(String));
    expect(down.scheduleLag.status).toBe('down');
    expect(down.scheduler).toEqual({ status: 'up', running: true });
    await expect(app.get(HealthCheckService).check([() => app!.get(QueueSchedulerHealthIndicator).isHealthy()])).rejects.toBeInstanceOf(
      ServiceUnavailableException,
    );

    proxy.restore();
    await waitFor(async () => (await health(app!)).status === 'up', 'health up after the database returns');
    const terminus = await app.get(HealthCheckService).check([() => app!.get(QueueSchedulerHealthIndicator).isHealthy()]);
    expect(terminus.status).toBe('ok');

    // the pool reconnected for real work too: a pushed task and a schedule's occurrence both run
    const queue = app.get(TaskQueue);
    const taskId = await queue.pushTask({ type: 'tick', params: { after: 'restore' } });
    const s = await app.get(SchedulerService).addSchedulerTask({ name: 'after restore', taskType: 'report', scheduleType: 'once', executeAt: new Date(Date.now() + 200) });
    await waitFor(async () => (await queue.getTask(taskId)).status === 'succeeded', 'the pushed task to succeed');
    await waitFor(() => app!.get(RecordingHandlers).of(s.taskId).length === 1, "the schedule's occurrence to run");
  });

  it('fails the database checks within timeoutMs when the connection hangs', async () => {
    app = await boot(viaProxy());
    proxy.cut('hang');
    const started = Date.now();
    const down = await health(app, { timeoutMs: 300 });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(1000);
    expect(down.status).toBe('down');
    expect(down.database).toEqual({ status: 'down', error: 'SELECT 1 timed out after 300 ms' });
    expect(down.scheduleLag).toEqual({ status: 'down', error: 'reading the oldest due schedule timed out after 300 ms' });
    expect(down.workers.status).toBe('up');

    proxy.restore();
    await waitFor(async () => (await health(app!, { timeoutMs: 300 })).status === 'up', 'health up after the partition heals');
  });
});

describe('QueueSchedulerHealthIndicator without a database (dataSource: false)', () => {
  it('checks the workers only', async () => {
    const app = await boot(null);
    try {
      expect(await health(app)).toEqual({ status: 'up', workers: { status: 'up', running: true, busy: 0, size: 3 } });
    } finally {
      await app.close();
    }
  });
});

describe('QueueSchedulerHealthIndicator on the redis backend behind a TCP proxy', () => {
  const prefix = testPrefix();
  let proxy: TcpProxy;
  let app: INestApplication | undefined;

  beforeEach(async () => {
    proxy = await TcpProxy.start(REDIS.host, REDIS.port);
  });
  afterEach(async () => {
    proxy.restore();
    await app?.close();
    app = undefined;
    await proxy.close();
  });
  afterAll(() => dropPrefix(prefix));

  const bootRedis = () => boot(null, { queue: { backend: 'redis', connection: { host: '127.0.0.1', port: proxy.port }, prefix } });

  it('reports the queue down at once while Redis is away, and up again when it returns', async () => {
    app = await bootRedis();
    expect(await health(app)).toEqual({
      status: 'up',
      queue: { status: 'up', backend: 'redis', responseTimeMs: expect.any(Number) },
      workers: { status: 'up', running: true, busy: 0, size: 3 },
    });

    proxy.cut('reset');
    // the client notices the closed connection on its own: from then on the check answers without sending
    await waitFor(async () => (await health(app!)).queue.status === 'down', 'the queue check to go down');
    const started = Date.now();
    const down = await health(app, { timeoutMs: 5000 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(down.status).toBe('down');
    expect(down.queue).toEqual({ status: 'down', backend: 'redis', error: expect.stringMatching(/^the redis connection is (connecting|reconnecting|connect|close|end|wait)$/) });
    expect(down.workers.status).toBe('up');

    proxy.restore();
    await waitFor(async () => (await health(app!)).status === 'up', 'health up after Redis returns');
    const taskId = await app.get(TaskQueue).pushTask({ type: 'tick', params: { after: 'restore' } });
    await waitFor(async () => (await app!.get(TaskQueue).getTask(taskId)).status === 'succeeded', 'the pushed task to succeed');
  });

  it('reports the queue down with the connection error when Redis is away from the start', async () => {
    proxy.cut('reset');
    app = await bootRedis();
    const down = await health(app);
    // the proxy resets each connection the way a stopped server refuses it
    expect(down.queue).toEqual({ status: 'down', backend: 'redis', error: expect.stringMatching(/ECONNRESET|ECONNREFUSED|the redis connection is/) });
    proxy.restore();
    await waitFor(async () => (await health(app!)).status === 'up', 'health up once Redis is reachable');
  });

  it('fails the queue check within timeoutMs when Redis stops answering', async () => {
    app = await bootRedis();
    expect((await health(app)).status).toBe('up');
    proxy.cut('hang');
    const started = Date.now();
    const down = await health(app, { timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(down.queue).toEqual({ status: 'down', backend: 'redis', error: 'redis PING timed out after 300 ms' });
    expect(down.status).toBe('down');

    proxy.restore();
    await waitFor(async () => (await health(app!, { timeoutMs: 300 })).status === 'up', 'health up after the partition heals');
  });
});
