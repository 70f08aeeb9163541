import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DatabaseQueueService, QueueSchedulerModule, type QueueSchedulerModuleOptions, TaskContext, TaskHandler, TaskQueue, WorkerPoolService } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { DATABASES, useTestDatabase } from './support/databases';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

@Injectable()
class Recorder {
  readonly seen = new Map<string, number>();
  stuck?: AbortSignal;

  @TaskHandler('record')
  record(_params: unknown, ctx: TaskContext): void {
    this.seen.set(ctx.taskId, (this.seen.get(ctx.taskId) ?? 0) + 1);
  }

  @TaskHandler('stuck')
  async stuckForever(_params: unknown, ctx: TaskContext): Promise<void> {
    this.stuck = ctx.signal;
    await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  }
}

describe.each(DATABASES)('database backend across restarts on %s', (kind) => {
  const db = useTestDatabase(kind);

  async function boot(options: QueueSchedulerModuleOptions = {}) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', ...options, queue: { backend: 'database', pollIntervalMs: 100, ...options.queue } }),
      ],
      providers: [Recorder],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    return { app, queue: app.get(TaskQueue), recorder: app.get(Recorder) };
  }

  it('1,000 tasks pushed with workers disabled all run after the app is closed and a new one boots', async () => {
    const producer = await boot({ workers: { enabled: false } });
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) ids.push(await producer.queue.pushTask({ type: 'record', params: { i } }));
    expect(await producer.queue.getQueueSize()).toBe(1000);
    await producer.app.close();

    const consumer = await boot({ workers: { concurrency: 8 } });
    await consumer.queue.onIdle();
    expect(ids.filter((id) => consumer.recorder.seen.get(id) !== 1)).toEqual([]);
    expect(await consumer.queue.countByStatus()).toMatchObject({ succeeded: 1000, pending: 0, running: 0 });
    await consumer.app.close();
  });

  it('shutdown releases an interrupted task without using an attempt: it waits as pending for the next instance', async () => {
    const first = await boot({ shutdownTimeoutMs: 100 });
    const id = await first.queue.pushTask({ taskId: 'interrupted', type: 'stuck' });
    await waitFor(() => first.recorder.stuck !== undefined, 'the task started');
    await first.app.close();
    expect(first.recorder.stuck!.aborted).toBe(true);

    const second = await boot({ workers: { enabled: false } });
    expect(await second.queue.getTask(id)).toMatchObject({ status: 'pending', attempts: 0 });
    await second.app.close();
  });
});

describe.each(DATABASES)('database backend housekeeping on %s', (kind) => {
  const db = useTestDatabase(kind);

  it('starts a task pushed on this instance at once (in-process wake-up), not at the next poll', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', queue: { backend: 'database', pollIntervalMs: 5000 } }),
      ],
      providers: [Recorder],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const queue = app.get(TaskQueue);
    const recorder = app.get(Recorder);
    // let the idle back-off reach its 5 s ceiling first
    await new Promise((r) => setTimeout(r, 800));
    try {
      for (let i = 0; i < 5; i++) {
        const pushedAt = Date.now();
        const id = await queue.pushTask({ type: 'record' });
        await waitFor(() => recorder.seen.has(id), 'the task ran', 4000, 1);
        expect(Date.now() - pushedAt).toBeLessThan(1000);
      }
    } finally {
      await app.close();
    }
  });

  it('with autoStart: false, a pool started by hand renews the leases of its tasks', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', autoStart: false, shutdownTimeoutMs: 100, queue: { backend: 'database', leaseMs: 1000, pollIntervalMs: 100 } }),
      ],
      providers: [Recorder],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const queue = app.get(DatabaseQueueService);
    const recorder = app.get(Recorder);
    try {
      app.get(WorkerPoolService).start();
      const id = await queue.pushTask({ type: 'stuck' });
      await waitFor(() => recorder.stuck !== undefined, 'the task started');
      const startedAt = (await queue.getTask(id)).startedAt!.getTime();
      // three leases long: without renewal the sweep of any instance would take it back
      await waitFor(() => Date.now() > startedAt + 3000, 'three leases passed', 5000, 50);
      expect(await queue.sweep()).toMatchObject({ reclaimed: 0 });
      expect(await queue.getTask(id)).toMatchObject({ status: 'running', attempts: 1 });
    } finally {
      await app.close();
    }
  });

  it('a sweep that finds no lease run out and nothing past retention writes nothing (it only reads)', async () => {
    const writes: string[] = [];
    const logger = { logQuery: (q: string) => void (/^\s*(UPDATE|DELETE)\b[\s\S]*\btask_queue\b/i.test(q) && writes.push(q)), logQueryError() {}, logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {} };
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: ['query'], logger }),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', autoStart: false, queue: { backend: 'database', retentionDays: 1 } }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const queue = app.get(DatabaseQueueService);
    await queue.pushTasks([{ taskId: 'sweep-done', type: 'sweep' }, { taskId: 'sweep-running', type: 'sweep' }]);
    const ds = app.get(DataSource);
    const p = (i: number) => (kind === 'postgres' ? `$${i}` : '?');
    await ds.query(`UPDATE task_queue SET status = 'succeeded', completed_at = ${p(1)} WHERE task_id = ${p(2)}`, [Date.now(), 'sweep-done']);
    await ds.query(`UPDATE task_queue SET status = 'running', lease_owner = 'elsewhere', lease_expires_at = ${p(1)} WHERE task_id = ${p(2)}`, [Date.now() + 60_000, 'sweep-running']);
    try {
      writes.length = 0;
      // on MariaDB the sweep's range UPDATE and DELETE deadlocked with three busy instances' claims even when they matched nothing
      expect(await queue.sweep()).toEqual({ reclaimed: 0, purged: 0 });
      expect(writes).toEqual([]);
      // a lease that ran out is still taken back
      await ds.query(`UPDATE task_queue SET lease_expires_at = ${p(1)} WHERE task_id = ${p(2)}`, [Date.now() - 1000, 'sweep-running']);
      expect(await queue.sweep()).toEqual({ reclaimed: 1, purged: 0 });
      expect(await queue.getTask('sweep-running')).toMatchObject({ status: 'pending' });
    } finally {
      await ds.query("DELETE FROM task_queue WHERE task_type = 'sweep'");
      await app.close();
    }
  });

  it('the sweep purges finished rows older than retentionDays and keeps newer and unfinished ones', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', autoStart: false, queue: { backend: 'database', retentionDays: 1 } }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const queue = app.get(DatabaseQueueService);
    await queue.pushTasks([{ taskId: 'old-done', type: 'x' }, { taskId: 'new-done', type: 'x' }, { taskId: 'old-pending', type: 'x' }]);
    const twoDaysAgo = Date.now() - 2 * 86_400_000;
    const ds = app.get(DataSource);
    const p = (i: number) => (kind === 'postgres' ? `$${i}` : '?');
    await ds.query(`UPDATE task_queue SET status = 'succeeded', completed_at = ${p(1)} WHERE task_id = ${p(2)}`, [twoDaysAgo, 'old-done']);
    await ds.query(`UPDATE task_queue SET status = 'succeeded', completed_at = ${p(1)} WHERE task_id = ${p(2)}`, [Date.now(), 'new-done']);
    await ds.query(`UPDATE task_queue SET created_at = ${p(1)} WHERE task_id = ${p(2)}`, [twoDaysAgo, 'old-pending']);
    try {
      expect(await queue.sweep()).toEqual({ reclaimed: 0, purged: 1 });
      expect((await queue.listTasks({ type: 'x' })).items.map((t) => t.taskId).sort()).toEqual(['new-done', 'old-pending']);
    } finally {
      await app.close();
    }
  });

  it("the sweep keeps an old finished child while its parent is stored (waiting, or dead under a parent that waits), so the parent still reads it", async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', autoStart: false, queue: { backend: 'database', retentionDays: 1 } }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const queue = app.get(DatabaseQueueService);
    const ds = app.get(DataSource);
    const p = (i: number) => (kind === 'postgres' ? `$${i}` : '?');
    const twoDaysAgo = Date.now() - 2 * 86_400_000;
    const finishOld = (id: string, status = 'succeeded') =>
      ds.query(`UPDATE task_queue SET status = ${p(1)}, completed_at = ${p(2)} WHERE task_id = ${p(3)}`, [status, twoDaysAgo, id]);
    // a parent still waiting for its second child, and a flow that has ended: only the ended one's children go
    const kept = await queue.pushFlow({ type: 'keep', children: [{ type: 'keep' }, { type: 'keep' }] });
    const gone = await queue.pushFlow({ type: 'keep', children: [{ type: 'keep' }] });
    const [keepDone, keepOpen] = kept.children.map((c) => c.taskId);
    await finishOld(keepDone);
    await finishOld(gone.children[0].taskId);
    await finishOld(gone.taskId);
    // a middle parent dead of its child under a root that still waits: both stay, so retryTask still sees why it died
    const nested = await queue.pushFlow({ type: 'nest', children: [{ type: 'nest', children: [{ type: 'nest' }] }, { type: 'nest' }] });
    const middle = nested.children[0];
    await finishOld(middle.children[0].taskId, 'dead');
    await finishOld(middle.taskId, 'dead');
    const left = async () => (await queue.listTasks({ type: 'keep' })).items.map((t) => t.taskId).sort();
    try {
      // the ended flow goes top-down: its parent first, its child with the next sweep; the waiting flow stays whole
      expect(await queue.sweep()).toEqual({ reclaimed: 0, purged: 1 });
      expect(await left()).toEqual([keepDone, keepOpen, kept.taskId, gone.children[0].taskId].sort());
      expect(await queue.sweep()).toEqual({ reclaimed: 0, purged: 1 });
      expect(await left()).toEqual([keepDone, keepOpen, kept.taskId].sort());
      // nothing left to purge: the sweep's look finds the kept child protected and runs no DELETE for it
      expect(await queue.sweep()).toEqual({ reclaimed: 0, purged: 0 });
      // once the parent has ended and aged, it goes, then its children
      await finishOld(keepOpen, 'dead');
      await finishOld(kept.taskId, 'dead');
      expect(await queue.sweep()).toEqual({ reclaimed: 0, purged: 1 });
      expect(await queue.sweep()).toEqual({ reclaimed: 0, purged: 2 });
      expect(await left()).toEqual([]);
      expect((await queue.listTasks({ type: 'nest' })).items).toHaveLength(4);
    } finally {
      await ds.query("DELETE FROM task_queue WHERE task_type IN ('keep', 'nest')");
      await app.close();
    }
  });

  // any length is accepted: a cutoff that is a fraction of a ms made PostgreSQL refuse the bigint, one past what a
  // number holds made MariaDB read `-Infinity` as a column, and the failing sweep never purged or pruned again
  it.each([
    ['a fraction of a day (1/7) purges what is older', 1 / 7, ['new-done']],
    ['a length past any clock (Number.MAX_VALUE) keeps everything', Number.MAX_VALUE, ['new-done', 'old-done']],
    ['1e300 days keeps everything', 1e300, ['new-done', 'old-done']],
  ])('retentionDays of %s, and the sweep does not fail', async (_name, retentionDays, left) => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', autoStart: false, queue: { backend: 'database', retentionDays } }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const queue = app.get(DatabaseQueueService);
    const ds = app.get(DataSource);
    const p = (i: number) => (kind === 'postgres' ? `$${i}` : '?');
    try {
      await queue.pushTasks([{ taskId: 'old-done', type: 'y' }, { taskId: 'new-done', type: 'y' }]);
      await ds.query(`UPDATE task_queue SET status = 'succeeded', completed_at = ${p(1)} WHERE task_id = ${p(2)}`, [Date.now() - 2 * 86_400_000, 'old-done']);
      await ds.query(`UPDATE task_queue SET status = 'succeeded', completed_at = ${p(1)} WHERE task_id = ${p(2)}`, [Date.now(), 'new-done']);
      expect(await queue.sweep()).toEqual({ reclaimed: 0, purged: 2 - left.length });
      expect((await queue.listTasks({ type: 'y' })).items.map((t) => t.taskId).sort()).toEqual(left);
    } finally {
      await ds.query("DELETE FROM task_queue WHERE task_type = 'y'");
      await app.close();
    }
  });
});
