import { type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueSchedulerModule, type QueueSchedulerModuleOptions, SchedulerService, SchemaNotReadyError } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { DATABASES, type TestDatabase, useTestDatabase } from './support/databases';
import { waitFor } from './support/wait-for';
import { LogLines } from './support/log-lines';

jest.setTimeout(60_000);


async function boot(db: TestDatabase, synchronize: boolean, logger = new LogLines(), options: QueueSchedulerModuleOptions = {}): Promise<{ app: INestApplication; logger: LogLines }> {
  const moduleRef = await Test.createTestingModule({
    imports: [TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize, logging: false }), QueueSchedulerModule.forRoot({ logLevel: 'log', ...options })],
  })
    .setLogger(logger)
    .compile();
  const app = moduleRef.createNestApplication({ logger });
  try {
    await app.init();
  } catch (err) {
    await app.close();
    throw err;
  }
  return { app, logger };
}

describe.each(DATABASES)('scheduler start-up on %s', (kind) => {
  const db = useTestDatabase(kind, { each: true });

  it('starts firing, then logs how many schedules are enabled', async () => {
    const first = await boot(db, true);
    const scheduler = first.app.get(SchedulerService);
    for (const name of ['a', 'b', 'c']) await scheduler.addSchedule({ name, taskType: 't', scheduleType: 'interval', intervalSeconds: 3600 });
    await scheduler.pauseSchedule((await scheduler.listSchedules()).find((s) => s.name === 'c')!.taskId);
    await first.app.close();

    const { app, logger } = await boot(db, false);
    try {
      expect(app.get(SchedulerService).running).toBe(true);
      await waitFor(() => logger.lines.some((l) => l === '2 enabled schedule(s) in the database; scheduler started'), 'the start-up count in the log');
    } finally {
      await app.close();
    }
  });

  const TABLES = ['scheduler_task', 'task_queue', 'queue_store', 'task_singleton', 'queue_paused_type', 'queue_rate_window', 'task_event'];

  /** The error start-up stopped with, or 'started'. */
  const startError = async (options?: QueueSchedulerModuleOptions): Promise<unknown> =>
    boot(db, false, undefined, options).then(
      async ({ app }) => (await app.close(), 'started'),
      (err: unknown) => err,
    );

  it('refuses to start when the migrations have not run, naming every missing table and what to do', async () => {
    // before, the driver's own "no such table: scheduler_task" (and on the database backend with the scheduler off, the
    // first table some service read) was all a newcomer who forgot synchronize or the migrations got
    for (const options of [{}, { queue: { backend: 'database' as const }, scheduler: { enabled: false } }]) {
      const err = await startError(options);
      expect(err).toBeInstanceOf(SchemaNotReadyError);
      expect((err as SchemaNotReadyError).tables).toEqual(TABLES);
      expect((err as Error).message).toMatch(/run the library's migrations \(QUEUE_SCHEDULER_MIGRATIONS/);
    }
  });

  it('refuses to start when a later migration has not run (a column missing), naming that table', async () => {
    // the tables as synchronize makes them (MariaDB's binary collations included), then one column taken away
    await boot(db, true).then(({ app }) => app.close());
    const ds = await new DataSource({ ...db.options, logging: false } as ConstructorParameters<typeof DataSource>[0]).initialize();
    try {
      // the column AddTaskQueueProgress adds
      await ds.query('ALTER TABLE task_queue DROP COLUMN progress');
    } finally {
      await ds.destroy();
    }
    const err = await startError({ queue: { backend: 'database' } });
    expect(err).toBeInstanceOf(SchemaNotReadyError);
    expect((err as SchemaNotReadyError).tables).toEqual(['task_queue']);
    expect((err as Error).message).toMatch(/progress/);
  });

  it('starts the database backend once the tables are there', async () => {
    await expect(boot(db, true, undefined, { queue: { backend: 'database' } }).then(async ({ app }) => (await app.close(), 'started'))).resolves.toBe('started');
  });
});

describe.each(DATABASES.filter((kind) => kind !== 'sqlite'))('an idle instance on %s', (kind) => {
  const db = useTestDatabase(kind, { each: true });

  it('holds one pooled connection once it has started (the start-up checks and the first count do not run side by side)', async () => {
    // before, the key-collation check ran beside the schema check, and the start-up count beside the first look: a
    // second connection the pool then kept for the app's lifetime, on every instance (~0.6 MB of mysql2's caches too)
    await boot(db, true).then(({ app }) => app.close());
    const watcher = await new DataSource({ ...db.options, logging: false } as ConstructorParameters<typeof DataSource>[0]).initialize();
    try {
      const mysql = kind !== 'postgres';
      // the connections opened after this point, the watcher's own left out: MariaDB numbers them in order, PostgreSQL stamps their start
      const [mark] = (await watcher.query(mysql ? 'SELECT CONNECTION_ID() AS mark' : 'SELECT now() AS mark')) as { mark: unknown }[];
      const opened = async (): Promise<number> => {
        const sql = mysql
          ? 'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID > ?'
          : 'SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND backend_start > $1 AND pid <> pg_backend_pid()';
        return Number(((await watcher.query(sql, [mark.mark])) as { n: unknown }[])[0].n);
      };
      const { app, logger } = await boot(db, false);
      try {
        await waitFor(() => logger.lines.some((l) => l.endsWith('enabled schedule(s) in the database; scheduler started')), 'the start-up count in the log');
        expect(await opened()).toBe(1);
      } finally {
        await app.close();
      }
    } finally {
      await watcher.destroy();
    }
  });
});
