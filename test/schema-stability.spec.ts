import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QUEUE_SCHEDULER_ENTITIES, QueuedTask, QueueSchedulerModule, type QueueSchedulerModuleOptions, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { type DatabaseKind, type TestDatabase, useTestDatabase } from './support/databases';
import { type Instance, startInstance, stopAll, waitReady } from './support/processes';
import { waitFor } from './support/wait-for';

jest.setTimeout(120_000);

const KINDS: DatabaseKind[] = ['sqlite', 'mariadb', 'mariadb-mysql', 'postgres'];
const RESULT = { answer: 42, note: 'kept across boots', nested: [1, 'two', null] };

@Injectable()
class AnswerHandler {
  @TaskHandler('answer')
  answer(): typeof RESULT {
    return RESULT;
  }
}

/** An app as users boot it: synchronize on, the database backend. */
async function boot(db: TestDatabase, options: QueueSchedulerModuleOptions = {}): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false, retryAttempts: 0 }),
      QueueSchedulerModule.forRoot({ logLevel: 'fatal', ...options, queue: { backend: 'database', pollIntervalMs: 50, ...options.queue } }),
    ],
    providers: [AnswerHandler],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

/** What synchronize would run on this database now. */
async function pendingChanges(ds: DataSource): Promise<string[]> {
  return (await ds.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query);
}

describe.each(KINDS)('schema under synchronize on %s', (kind) => {
  const db = useTestDatabase(kind, { each: true });

  it('a second boot plans no change and keeps the result a handler stored', async () => {
    const first = await boot(db);
    const id = await first.get(TaskQueue).pushTask({ type: 'answer' });
    await waitFor(async () => (await first.get(TaskQueue).getTask(id)).status === 'succeeded', 'answer succeeded');
    await first.close();

    const second = await boot(db, { workers: { enabled: false } });
    try {
      const { status, result } = await second.get(TaskQueue).getTask(id);
      expect({ status, result, changes: await pendingChanges(second.get(DataSource)) }).toEqual({ status: 'succeeded', result: RESULT, changes: [] });
    } finally {
      await second.close();
    }
  });
});

describe('three instances booting together with synchronize on mariadb-mysql', () => {
  const db = useTestDatabase('mariadb-mysql');
  let instances: Instance[] = [];
  db.beforeDrop(() => stopAll(instances, 'SIGKILL'));

  it('all come up on an existing schema, none changes it, and a stored result survives', async () => {
    // the schema as an app on an earlier release left it: synchronized, keys not yet converted, one finished task
    const before = new DataSource({ ...db.options, entities: QUEUE_SCHEDULER_ENTITIES, synchronize: true } as DataSourceOptions);
    await before.initialize();
    await before.getRepository(QueuedTask).insert({
      taskId: 'kept',
      seq: '1',
      taskType: 'answer',
      params: {},
      status: 'succeeded',
      runAt: new Date(),
      createdAt: new Date(),
      completedAt: new Date(),
      result: RESULT,
    });
    await before.destroy();

    instances = [0, 1, 2].map(() => startInstance({ ...db.options, synchronize: true, retryAttempts: 0 }, { queue: { backend: 'database' }, workers: { enabled: false } }, { app: 'bare' }));
    await waitReady(instances, 60_000);
    expect(instances.map((i) => i.stderr.join('\n'))).toEqual(['', '', '']);
    await stopAll(instances);

    const after = new DataSource({ ...db.options, entities: QUEUE_SCHEDULER_ENTITIES } as DataSourceOptions);
    await after.initialize();
    try {
      expect(await pendingChanges(after)).toEqual([]);
      expect(await after.getRepository(QueuedTask).findOneByOrFail({ taskId: 'kept' })).toMatchObject({ status: 'succeeded', result: RESULT });
      // one of them converted the key columns while the others waited, then found nothing left to do
      const [{ collation }] = await after.query(
        "SELECT COLLATION_NAME AS collation FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'task_queue' AND COLUMN_NAME = 'task_id'",
      );
      expect(collation).toBe('utf8mb4_nopad_bin');
    } finally {
      await after.destroy();
    }
  });
});
