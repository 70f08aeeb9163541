/**
 * Group commit of outcomes on the database backend: tries that finish
 * together are written by one UPDATE per kind of outcome, each caller still
 * waits for its own write, a lost lease inside a batch is found and logged
 * for that task alone, and nothing recorded is left unwritten at shutdown.
 */
import { Injectable, type INestApplication, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DatabaseQueueService, QueueSchedulerModule, type QueueSchedulerModuleOptions, type TaskEvent, TaskHandler } from 'nestjs-queue-scheduler';
import type { ClaimFilter } from 'nestjs-queue-scheduler/queue/queue-consumer';
import { DataSource, type DataSourceOptions, type Logger as TypeOrmLogger } from 'typeorm';
import { OutcomeBatch } from 'nestjs-queue-scheduler/queue/database/outcome-batch';
import { dialectOfDataSource, Sql } from 'nestjs-queue-scheduler/database/sql';
import { DATABASES, useTestDatabase } from './support/databases';
import { TcpProxy } from './support/tcp-proxy';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

/** The UPDATE statements the app sends, by the status they write. */
class StatementLog implements TypeOrmLogger {
  readonly updates: string[] = [];
  logQuery(query: string): void {
    if (/^\s*UPDATE task_queue SET status = '(succeeded|pending|dead)'/.test(query)) this.updates.push(query);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
  writing(status: string): number {
    return this.updates.filter((q) => q.includes(`SET status = '${status}'`)).length;
  }
}

class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log(): void {}
  warn(message: unknown): void {
    this.lines.push(String(message));
  }
  error(message: unknown): void {
    this.lines.push(String(message));
  }
}

/** Released by the test: tasks that stay running until it says so. */
@Injectable()
class GatedHandlers {
  private open!: () => void;
  gate = new Promise<void>((resolve) => (this.open = resolve));
  started = 0;

  @TaskHandler('noop')
  noop(): void {}

  // a try whose outcome could not be written is lost, and counts: a second one is allowed
  @TaskHandler('gated', { retries: { attempts: 2, backoff: 'fixed', delayMs: 10 } })
  async gated(params: { n: number }): Promise<{ n: number }> {
    this.started++;
    await this.gate;
    return { n: params.n };
  }

  release(): void {
    this.open();
  }

  private openBusy!: () => void;
  private readonly busyGate = new Promise<void>((resolve) => (this.openBusy = resolve));
  busyStarted = false;

  /** Runs until released: while it does, its instance renews its lease. */
  @TaskHandler('busy')
  async busy(): Promise<void> {
    this.busyStarted = true;
    await this.busyGate;
  }

  releaseBusy(): void {
    this.openBusy();
  }
}

const only = (type: string): ClaimFilter => ({ types: [type], unknownTypes: false, handled: new Set([type]) });

describe.each(DATABASES)('outcomes written in batches on %s', (kind) => {
  const db = useTestDatabase(kind);
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function boot(options: QueueSchedulerModuleOptions = {}) {
    const statements = new StatementLog();
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: ['query'], logger: statements }),
        QueueSchedulerModule.forRoot({ logLevel: 'warn', ...options, queue: { backend: 'database', pollIntervalMs: 100, ...options.queue } }),
      ],
      providers: [GatedHandlers],
    })
      .setLogger(logger)
      .compile();
    app = moduleRef.createNestApplication({ logger });
    await app.get(DataSource).query('DELETE FROM task_queue');
    await app.init();
    return { app, queue: app.get(DatabaseQueueService), statements, logger, handlers: app.get(GatedHandlers) };
  }

  it('200 tries finishing at once are written by one UPDATE, and every caller is answered', async () => {
    const { queue, statements } = await boot({ workers: { enabled: false } });
    const ids = await queue.pushTasks(Array.from({ length: 200 }, (_, i) => ({ type: 'noop', params: { i } })));
    const tasks = await queue.claim(only('noop'), 200);
    expect(tasks).toHaveLength(200);
    const written: string[] = [];
    await Promise.all(tasks.map((t) => Promise.resolve(queue.complete(t, undefined, 0)).then(() => written.push(t.taskId))));
    expect(written).toHaveLength(200);
    expect(statements.writing('succeeded')).toBe(1);
    expect(await queue.countByStatus()).toMatchObject({ succeeded: 200, running: 0 });
    expect((await queue.getTask(ids[123])).completedAt).toBeInstanceOf(Date);
  });

  it('a mixed batch keeps every task its own result, error and retry time', async () => {
    const { queue, statements } = await boot({ workers: { enabled: false } });
    await queue.pushTasks(['plain', 'result', 'retry', 'dead'].map((taskId) => ({ taskId, type: 'noop' })));
    const byId = new Map((await queue.claim(only('noop'), 4)).map((t) => [t.taskId, t]));
    const retryAt = new Date(Date.now() + 3_600_000);
    await Promise.all([
      queue.complete(byId.get('plain')!, undefined, 1),
      queue.complete(byId.get('result')!, { n: 7, s: "it's" }, 1),
      queue.fail(byId.get('retry')!, new Error('try again'), retryAt, 1),
      queue.fail(byId.get('dead')!, new Error("gone for good: 'quoted'"), null, 1),
    ]);
    expect(statements.updates).toHaveLength(4);
    expect(await queue.getTask('plain')).toMatchObject({ status: 'succeeded', result: undefined });
    expect(await queue.getTask('result')).toMatchObject({ status: 'succeeded', result: { n: 7, s: "it's" } });
    expect(await queue.getTask('retry')).toMatchObject({ status: 'failed', error: 'try again', runAt: retryAt, attempts: 1 });
    expect(await queue.getTask('dead')).toMatchObject({ status: 'dead', error: "gone for good: 'quoted'", attempts: 1 });
  });

  it('large results are written a few at a time, so a batch stays under the server packet limit (16 MB on MariaDB here)', async () => {
    const { queue, statements } = await boot({ workers: { enabled: false } });
    await queue.pushTasks(Array.from({ length: 20 }, (_, i) => ({ taskId: `big-${i}`, type: 'noop' })));
    const tasks = await queue.claim(only('noop'), 20);
    const big = (i: number) => ({ i, blob: String.fromCharCode(97 + i).repeat(1_000_000) });
    await Promise.all(tasks.map((t) => queue.complete(t, big(Number(t.taskId.slice(4))), 0)));
    expect(statements.writing('succeeded')).toBeGreaterThan(1);
    for (const i of [0, 7, 19]) expect((await queue.getTask(`big-${i}`)).result).toEqual(big(i));
  });

  it('a lost lease inside a batch is logged for that task alone, and only the others report succeeded', async () => {
    const { queue, logger } = await boot({ workers: { enabled: false } });
    await queue.pushTasks(['a', 'b', 'c', 'd'].map((taskId) => ({ taskId, type: 'noop' })));
    const tasks = await queue.claim(only('noop'), 4);
    const events: TaskEvent[] = [];
    queue.events$.subscribe((e) => events.push(e));
    const ds = app!.get(DataSource);
    const p = (i: number) => (kind === 'postgres' ? `$${i}` : '?');
    // b: its lease ran out and the sweep queued it again; d: another worker has claimed it since
    await ds.query(`UPDATE task_queue SET status = 'pending', lease_owner = NULL WHERE task_id = ${p(1)}`, ['b']);
    await ds.query(`UPDATE task_queue SET attempts = attempts + 1 WHERE task_id = ${p(1)}`, ['d']);
    const byId = new Map(tasks.map((t) => [t.taskId, t]));
    await Promise.all([queue.complete(byId.get('a')!, 'A', 0), queue.complete(byId.get('b')!, 'B', 0), queue.complete(byId.get('c')!, 'C', 0), queue.fail(byId.get('d')!, new Error('late'), null, 0)]);
    expect(await queue.getTask('a')).toMatchObject({ status: 'succeeded', result: 'A' });
    expect(await queue.getTask('b')).toMatchObject({ status: 'pending', result: undefined });
    expect(await queue.getTask('c')).toMatchObject({ status: 'succeeded', result: 'C' });
    expect(await queue.getTask('d')).toMatchObject({ status: 'running', attempts: 2, error: undefined });
    expect(events.filter((e) => e.kind !== 'queued').map((e) => `${e.kind} ${e.taskId}`).sort()).toEqual(['succeeded a', 'succeeded c']);
    const lost = logger.lines.filter((l) => l.includes('after its lease was lost'));
    expect(lost).toHaveLength(2);
    expect(lost.find((l) => l.startsWith('task b (noop): attempt 1 ended (succeeded)'))).toBeDefined();
    expect(lost.find((l) => l.startsWith('task d (noop): attempt 1 ended (dead)'))).toBeDefined();
  });

  it('an outcome recorded while the previous write is returning is written too', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    const ds = app!.get(DataSource);
    const batch = new OutcomeBatch(new Sql(ds, dialectOfDataSource(ds)));
    // the second outcome is recorded 0 to 5 promise hops after the first one's write resolved it: one of them
    // falls after the writer saw nothing more to write and before it stepped aside
    for (let hops = 0; hops <= 5; hops++) {
      await queue.pushTasks([{ taskId: `first-${hops}`, type: 'noop' }, { taskId: `second-${hops}`, type: 'noop' }]);
      const [first, second] = await queue.claim(only('noop'), 2);
      let recorded: Promise<boolean> | undefined;
      let chain: Promise<unknown> = batch.record({ kind: 'succeeded', task: first, result: null });
      for (let i = 0; i < hops; i++) chain = chain.then(() => undefined);
      await chain.then(() => {
        recorded = batch.record({ kind: 'succeeded', task: second, result: null });
      });
      await waitFor(async () => (await queue.getTask(second.taskId)).status === 'succeeded', `the second outcome written (${hops} hops)`, 5000);
      expect(await recorded).toBe(true);
    }
  });

  it('1,000 tasks through the worker pool at concurrency 100 take far fewer UPDATEs than tasks', async () => {
    const { queue, statements } = await boot({ workers: { concurrency: 100 }, queue: { pollIntervalMs: 50 } });
    await queue.pushTasks(Array.from({ length: 1000 }, () => ({ type: 'noop' })));
    await queue.onIdle();
    expect(await queue.countByStatus()).toMatchObject({ succeeded: 1000, pending: 0, running: 0 });
    // outcomes that finish while a write is in flight join the next one
    expect(statements.writing('succeeded')).toBeLessThanOrEqual(100);
  });

  it('outcomes of tasks that finish during app.close() are written before the DataSource closes', async () => {
    const { queue, handlers } = await boot({ workers: { concurrency: 10 } });
    await queue.pushTasks(Array.from({ length: 10 }, (_, n) => ({ taskId: `gated-${n}`, type: 'gated', params: { n } })));
    await waitFor(() => handlers.started === 10, 'all ten started');
    const closing = app!.close();
    app = undefined;
    handlers.release();
    await closing;
    const ds = await new DataSource(db.options).initialize();
    try {
      const rows: Array<{ status: string }> = await ds.query("SELECT status FROM task_queue WHERE task_type = 'gated'");
      expect(rows.map((r) => r.status)).toEqual(Array.from({ length: 10 }, () => 'succeeded'));
    } finally {
      await ds.destroy();
    }
  });

  it('an outcome recorded without waiting is still written by app.close()', async () => {
    const { queue } = await boot({ workers: { enabled: false } });
    await queue.pushTask({ taskId: 'unawaited', type: 'noop' });
    const [task] = await queue.claim(only('noop'), 1);
    void queue.complete(task, 'done', 0);
    await app!.close();
    app = undefined;
    const ds = await new DataSource(db.options).initialize();
    try {
      const rows: Array<{ status: string }> = await ds.query("SELECT status FROM task_queue WHERE task_id = 'unawaited'");
      expect(rows).toEqual([{ status: 'succeeded' }]);
    } finally {
      await ds.destroy();
    }
  });
});

type ServerKind = Exclude<(typeof DATABASES)[number], 'sqlite'>;
const serverKinds = DATABASES.filter((k): k is ServerKind => k !== 'sqlite');

// SQLite is a file: there is no connection to cut. (describe.each refuses an empty table, e.g. with TEST_DATABASES=sqlite.)
(serverKinds.length ? describe.each(serverKinds) : describe.skip.each<ServerKind>(['mariadb']))('a failed write of outcomes on %s behind a TCP proxy', (kind) => {
  const db = useTestDatabase(kind);
  let proxy: TcpProxy;
  let app: INestApplication | undefined;
  db.beforeDrop(async () => {
    proxy.restore();
    await app?.close();
    await proxy.close();
  });

  beforeAll(async () => {
    const target = db.options as { host: string; port: number };
    proxy = await TcpProxy.start(target.host, target.port);
  });

  const viaProxy = (): DataSourceOptions => ({ ...db.options, host: '127.0.0.1', port: proxy.port }) as DataSourceOptions;

  /** An app whose database is reached through the proxy, with a short lease and a sweep every 200 ms. */
  async function bootViaProxy(): Promise<{ logger: CapturingLogger; queue: DatabaseQueueService; handlers: GatedHandlers }> {
    await app?.close();
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...viaProxy(), autoLoadEntities: true, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({ logLevel: 'warn', queue: { backend: 'database', pollIntervalMs: 100, leaseMs: 1500, sweepIntervalMs: 200 }, workers: { concurrency: 2 } }),
      ],
      providers: [GatedHandlers],
    })
      .setLogger(logger)
      .compile();
    app = moduleRef.createNestApplication({ logger });
    await app.init();
    return { logger, queue: app.get(DatabaseQueueService), handlers: app.get(GatedHandlers) };
  }

  /** Cuts the database while gated try `taskId` ends: its outcome write fails, and the failure is logged for it. */
  async function cutWhileItEnds(logger: CapturingLogger, handlers: GatedHandlers, taskId: string): Promise<void> {
    proxy.cut('reset');
    handlers.release();
    await waitFor(() => logger.lines.some((l) => l.startsWith(`task ${taskId} (gated): could not record the outcome`)), 'the failed write logged for the task');
    proxy.restore();
  }

  /** Waits until `taskId` reads succeeded (reads fail while the pool reconnects). */
  const succeeded = (queue: DatabaseQueueService, taskId: string, timeoutMs: number): Promise<void> =>
    waitFor(async () => (await queue.getTask(taskId).catch(() => undefined))?.status === 'succeeded', 'the task run again and recorded', timeoutMs, 50);

  it('rejects the waiting caller; the task keeps no lease and runs again once the database is back', async () => {
    const { logger, queue, handlers } = await bootViaProxy();
    await queue.pushTask({ taskId: 'cut-off', type: 'gated', params: { n: 1 } });
    await waitFor(() => handlers.started === 1, 'the first try started');

    await cutWhileItEnds(logger, handlers, 'cut-off');
    await succeeded(queue, 'cut-off', 30_000);
    expect(handlers.started).toBe(2);
    expect(await queue.getTask('cut-off')).toMatchObject({ status: 'succeeded', attempts: 2, result: { n: 1 } });
  });

  it('runs such a task again while its instance is busy: the lease renewal is for the tries it still runs', async () => {
    // the renewal extended every running row of the instance, the unwritten try's too: it stayed running while any ran
    const { logger, queue, handlers } = await bootViaProxy();
    await queue.pushTask({ taskId: 'busy-1', type: 'busy' });
    await waitFor(() => handlers.busyStarted, 'the busy task started');
    await queue.pushTask({ taskId: 'cut-off-2', type: 'gated', params: { n: 2 } });
    await waitFor(() => handlers.started === 1, 'the first try started');

    await cutWhileItEnds(logger, handlers, 'cut-off-2');
    // ten leases: the busy task's is renewed all along
    await succeeded(queue, 'cut-off-2', 15_000);
    expect(handlers.started).toBe(2);
    expect((await queue.getTask('busy-1')).status).toBe('running');
    handlers.releaseBusy();
    await waitFor(async () => (await queue.getTask('busy-1')).status === 'succeeded', 'the busy task');
  });
});
