import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import {
  InvalidOptionsError,
  QUEUE_SCHEDULER_ENTITIES,
  QUEUE_SCHEDULER_MIGRATIONS,
  QueueSchedulerModule,
  SchedulerService,
  SchemaNotReadyError,
  SchedulerTask,
  TaskQueue,
} from 'nestjs-queue-scheduler';
import type { ClaimFilter, QueueConsumer } from 'nestjs-queue-scheduler/queue/queue-consumer';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { type DatabaseKind, type TestDatabase, useTestDatabase } from './support/databases';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

const KINDS: DatabaseKind[] = ['sqlite', 'mariadb', 'mariadb-mysql', 'postgres'];
const MYSQL_KINDS: DatabaseKind[] = ['mariadb', 'mariadb-mysql'];
/** The migrations of the releases before key columns were binary. */
const OLD_MIGRATIONS = QUEUE_SCHEDULER_MIGRATIONS.slice(0, 3);
/** Up to the migration that made key columns binary. */
const KEY_MIGRATIONS = QUEUE_SCHEDULER_MIGRATIONS.slice(0, 4);
/** Key columns added after that migration, binary from the start. */
const LATER_KEY_COLUMNS = ['queue_paused_type.task_type', 'queue_rate_window.task_type', 'task_queue.singleton_key', 'task_queue.trace_context', 'task_singleton.singleton_key', 'task_singleton.task_id'];
const KEY_COLUMNS = [
  'queue_store.store_key',
  'scheduler_task.schedule_key',
  'scheduler_task.task_id',
  'scheduler_task.task_type',
  'task_queue.lease_owner',
  'task_queue.scheduler_task_id',
  'task_queue.task_id',
  'task_queue.task_type',
];
const only = (type: string): ClaimFilter => ({ types: [type], unknownTypes: false, handled: new Set([type]) });

/** A Nest app on `db` with the database backend and no workers, not yet initialised (so a failing init can still be closed). */
async function createApp(db: TestDatabase, typeorm: Partial<TypeOrmModuleOptions> = {}): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false, retryAttempts: 0, ...typeorm } as TypeOrmModuleOptions),
      QueueSchedulerModule.forRoot({ logLevel: 'fatal', queue: { backend: 'database' }, workers: { enabled: false } }),
    ],
  }).compile();
  return moduleRef.createNestApplication({ logger: false });
}

async function withDataSource<T>(db: TestDatabase, extra: Partial<DataSourceOptions>, use: (ds: DataSource) => Promise<T>): Promise<T> {
  const ds = new DataSource({ ...db.options, entities: QUEUE_SCHEDULER_ENTITIES, ...extra } as DataSourceOptions);
  await ds.initialize();
  try {
    return await use(ds);
  } finally {
    await ds.destroy();
  }
}

/** `table.column` → collation of every key column (MySQL/MariaDB). */
async function keyCollations(ds: DataSource): Promise<Record<string, string>> {
  const rows: Array<{ name: string; collation: string }> = await ds.query(
    "SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME) AS name, COLLATION_NAME AS collation FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY name",
  );
  return Object.fromEntries(rows.filter((r) => KEY_COLUMNS.includes(r.name)).map((r) => [r.name, r.collation]));
}

const allBinary = Object.fromEntries(KEY_COLUMNS.map((c) => [c, 'utf8mb4_nopad_bin']));

describe.each(KINDS)('ids, types and keys compare byte for byte on %s', (kind) => {
  const db = useTestDatabase(kind, { each: true });
  let app: INestApplication | undefined;

  db.beforeDrop(async () => {
    await app?.close();
    app = undefined;
  });

  async function boot(typeorm: Partial<TypeOrmModuleOptions> = {}): Promise<TaskQueue & QueueConsumer> {
    app = await createApp(db, typeorm);
    await app.init();
    return app.get<TaskQueue, TaskQueue & QueueConsumer>(TaskQueue);
  }

  async function expectDistinctTasks(queue: TaskQueue, ids: string[]): Promise<void> {
    for (const [n, taskId] of ids.entries()) expect(await queue.pushTask({ taskId, type: 'echo', params: { n } })).toBe(taskId);
    const [{ count }] = await app!.get(DataSource).query('SELECT COUNT(*) AS count FROM task_queue');
    expect(Number(count)).toBe(ids.length);
    for (const [n, taskId] of ids.entries()) expect(await queue.getTask(taskId)).toMatchObject({ taskId, params: { n } });
  }

  it("stores 'Invoice-42', 'invoice-42' and 'invoice-42 ' as three tasks", async () => {
    await expectDistinctTasks(await boot(), ['Invoice-42', 'invoice-42', 'invoice-42 ']);
  });

  it("stores 'job-😀' and 'job-😎' as two tasks", async () => {
    await expectDistinctTasks(await boot(), ['job-😀', 'job-😎']);
  });

  it("keeps store keys 'Token' and 'token' apart", async () => {
    const queue = await boot();
    await queue.setPublic('Token', 1);
    await queue.setPublic('token', 2);
    expect([await queue.getPublic('Token'), await queue.getPublic('token')]).toEqual([1, 2]);
    expect((await queue.listKeys()).sort()).toEqual(['Token', 'token']);
  });

  it("hands a worker for 'echo' no task of type 'Echo'", async () => {
    const queue = await boot();
    await queue.pushTask({ taskId: 'upper', type: 'Echo' });
    await queue.pushTask({ taskId: 'lower', type: 'echo' });
    expect((await queue.claim(only('echo'), 10)).map((t) => t.taskId)).toEqual(['lower']);
  });

  it("keeps schedule keys 'Nightly' and 'nightly' apart", async () => {
    await boot();
    const row = (taskId: string, scheduleKey: string) => ({ taskId, scheduleKey, name: scheduleKey, taskType: 'echo', params: {}, scheduleType: 'interval' as const, intervalSeconds: 60, createdAt: new Date(), updatedAt: new Date() });
    const repo = app!.get(DataSource).getRepository(SchedulerTask);
    await repo.insert([row('s-upper', 'Nightly'), row('s-lower', 'nightly')]);
    expect((await repo.find({ order: { taskId: 'ASC' } })).map((s) => s.scheduleKey)).toEqual(['nightly', 'Nightly']);
  });

  it('keeps ids distinct in a table the earlier migrations made, once the new migration ran', async () => {
    await withDataSource(db, { migrations: OLD_MIGRATIONS }, async (ds) => {
      await ds.runMigrations();
      const insert = ds.options.type === 'postgres' ? 'VALUES ($1, $2, $3, $4, $5, $6, $7)' : 'VALUES (?, ?, ?, ?, ?, ?, ?)';
      await ds.query(`INSERT INTO task_queue (task_id, seq, task_type, params, status, run_at, created_at) ${insert}`, ['Invoice-42', 1, 'echo', '{"n":0}', 'pending', 0, 0]);
    });
    const applied = await withDataSource(db, { migrations: QUEUE_SCHEDULER_MIGRATIONS }, (ds) => ds.runMigrations());
    // the collation migration, and every later one (they create or touch their own key columns binary from the start)
    expect(applied.map((m) => m.name)).toEqual(QUEUE_SCHEDULER_MIGRATIONS.slice(OLD_MIGRATIONS.length).map((m) => new m().name));
    const queue = await boot({ synchronize: false });
    for (const [n, taskId] of ['invoice-42', 'invoice-42 '].entries()) await queue.pushTask({ taskId, type: 'echo', params: { n: n + 1 } });
    for (const [n, taskId] of ['Invoice-42', 'invoice-42', 'invoice-42 '].entries()) expect(await queue.getTask(taskId)).toMatchObject({ taskId, params: { n } });
  });
});

describe.each(MYSQL_KINDS)('key column collations on %s', (kind) => {
  const db = useTestDatabase(kind, { each: true });

  it("the new migration gives every key column the server's NO PAD binary collation, and its down() takes it back", async () => {
    await withDataSource(db, { migrations: KEY_MIGRATIONS }, async (ds) => {
      await ds.runMigrations();
      expect(await keyCollations(ds)).toEqual(allBinary);
      // back to before the collation migration
      for (let i = KEY_MIGRATIONS.length; i > OLD_MIGRATIONS.length; i--) await ds.undoLastMigration();
      expect(Object.values(await keyCollations(ds))).toEqual(KEY_COLUMNS.map(() => 'utf8mb4_general_ci'));
    });
  });

  it('creates the key columns of the later migrations (paused types, singleton keys) binary, and synchronize converts them too', async () => {
    const collations = async (ds: DataSource) => {
      const rows: Array<{ name: string; collation: string }> = await ds.query(
        "SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME) AS name, COLLATION_NAME AS collation FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY name",
      );
      return rows.filter((r) => LATER_KEY_COLUMNS.includes(r.name)).map((r) => r.collation);
    };
    await withDataSource(db, { migrations: QUEUE_SCHEDULER_MIGRATIONS }, async (ds) => {
      await ds.runMigrations();
      expect(await collations(ds)).toEqual(LATER_KEY_COLUMNS.map(() => 'utf8mb4_nopad_bin'));
      await ds.dropDatabase();
    });
    const app = await createApp(db);
    try {
      await app.init();
      expect(await collations(app.get(DataSource))).toEqual(LATER_KEY_COLUMNS.map(() => 'utf8mb4_nopad_bin'));
    } finally {
      await app.close();
    }
  });

  it('converts the key columns of a database made by synchronize at start-up', async () => {
    const app = await createApp(db);
    try {
      await app.init();
      expect(await keyCollations(app.get(DataSource))).toEqual(allBinary);
    } finally {
      await app.close();
    }
  });

  it('without synchronize, stops start-up naming key columns that lost their collation and the fix', async () => {
    // every table there, as the migrations made it, then the key columns put back to the database's collation
    await withDataSource(db, { migrations: QUEUE_SCHEDULER_MIGRATIONS }, async (ds) => {
      await ds.runMigrations();
      await ungroupKeys(ds);
    });
    const app = await createApp(db, { synchronize: false });
    const schedulerStart = jest.spyOn(SchedulerService.prototype, 'onModuleInit');
    try {
      const error: unknown = await app.init().then(() => undefined, (err: unknown) => err);
      expect(error).toBeInstanceOf(InvalidOptionsError);
      const { message } = error as InvalidOptionsError;
      for (const column of KEY_COLUMNS) expect(message).toContain(`${column} (utf8mb4_general_ci)`);
      expect(message).toMatch(/COLLATE utf8mb4_nopad_bin\. Run QUEUE_SCHEDULER_MIGRATIONS/);
      // stopped before the scheduler could start on those columns
      expect(schedulerStart).not.toHaveBeenCalled();
    } finally {
      schedulerStart.mockRestore();
      await app.close();
    }
    // and changed nothing
    await withDataSource(db, {}, async (ds) => expect(Object.values(await keyCollations(ds))).toEqual(KEY_COLUMNS.map(() => 'utf8mb4_general_ci')));
  });

  it('with the migrations not all run (tables missing), stops start-up with SchemaNotReadyError naming them, as on every database', async () => {
    await withDataSource(db, { migrations: OLD_MIGRATIONS }, (ds) => ds.runMigrations());
    const app = await createApp(db, { synchronize: false });
    try {
      const error: unknown = await app.init().then(() => undefined, (err: unknown) => err);
      expect(error).toBeInstanceOf(SchemaNotReadyError);
      expect((error as SchemaNotReadyError).tables).toEqual(expect.arrayContaining(['task_singleton', 'queue_paused_type', 'task_event']));
    } finally {
      await app.close();
    }
  });

});

/** Puts every key column back to utf8mb4_general_ci (a dump restored into another collation, an operator's ALTER), keeping its type and nullability. */
async function ungroupKeys(ds: DataSource): Promise<void> {
  const rows: Array<{ t: string; c: string; type: string; nullable: string }> = await ds.query(
    'SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS type, IS_NULLABLE AS nullable FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()',
  );
  for (const r of rows.filter((row) => KEY_COLUMNS.includes(`${row.t}.${row.c}`))) {
    await ds.query(`ALTER TABLE \`${r.t}\` MODIFY \`${r.c}\` ${r.type} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci ${r.nullable === 'YES' ? 'NULL' : 'NOT NULL'}`);
  }
}

describe.each(MYSQL_KINDS)('text columns on a database that defaults to latin1 (%s)', (kind) => {
  const db = useTestDatabase(kind, { each: true });
  const UNICODE = '下载失败 😀';

  /** MariaDB's built-in default before 11.6: every column the library does not give a character set of its own is made latin1. */
  const makeLatin1 = (): Promise<unknown> => withDataSource(db, {}, (ds) => ds.query(`ALTER DATABASE \`${String(ds.options.database)}\` CHARACTER SET latin1 COLLATE latin1_swedish_ci`));
  /** `table.column (charset)` of the library's text columns that are not utf8mb4. */
  const narrowColumns = (ds: DataSource): Promise<string[]> =>
    ds
      .query("SELECT TABLE_NAME AS t, COLUMN_NAME AS c, CHARACTER_SET_NAME AS cs FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND CHARACTER_SET_NAME IS NOT NULL AND CHARACTER_SET_NAME <> 'utf8mb4' AND TABLE_NAME <> 'migrations'")
      .then((rows: Array<{ t: string; c: string; cs: string }>) => rows.map((r) => `${r.t}.${r.c} (${r.cs})`).sort());

  /** What a user writes in any script is what is stored: a task's params, a handler's error, a schedule's name. */
  async function expectUnicodeKept(app: INestApplication): Promise<void> {
    const queue = app.get<TaskQueue, TaskQueue & QueueConsumer>(TaskQueue);
    await queue.pushTask({ taskId: 'unicode', type: 'echo', params: { s: UNICODE } });
    const [task] = await queue.claim(only('echo'), 1);
    expect(task.params).toEqual({ s: UNICODE });
    // an outcome the table refused would leave the task running, to its lease
    await queue.fail(task, new Error(UNICODE), null, 1);
    await waitFor(async () => (await queue.getTask('unicode'))?.status === 'dead', 'the failed try recorded');
    expect(await queue.getTask('unicode')).toMatchObject({ status: 'dead', error: UNICODE });
    const scheduler = app.get(SchedulerService);
    const { taskId } = await scheduler.addSchedule({ name: `Büro ${UNICODE}`, taskType: 'echo', scheduleType: 'interval', intervalSeconds: 3600, description: UNICODE });
    expect(await scheduler.getSchedule(taskId)).toMatchObject({ name: `Büro ${UNICODE}`, description: UNICODE });
  }

  it('the migrations leave every text column utf8mb4, and text in any script is stored as written', async () => {
    await makeLatin1();
    await withDataSource(db, { migrations: QUEUE_SCHEDULER_MIGRATIONS }, async (ds) => {
      await ds.runMigrations();
      expect(await narrowColumns(ds)).toEqual([]);
      // a converted column keeps its definition: NOT NULL and its default
      const [overlap] = await ds.query("SELECT IS_NULLABLE AS nullable, COLUMN_DEFAULT AS def FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'scheduler_task' AND COLUMN_NAME = 'overlap'");
      expect(overlap).toEqual({ nullable: 'NO', def: "'allow'" });
    });
    const app = await createApp(db, { synchronize: false });
    try {
      await app.init();
      await expectUnicodeKept(app);
    } finally {
      await app.close();
    }
  });

  it('synchronize converts the text columns it made latin1 at start-up', async () => {
    await makeLatin1();
    const app = await createApp(db);
    try {
      await app.init();
      expect(await narrowColumns(app.get(DataSource))).toEqual([]);
      await expectUnicodeKept(app);
    } finally {
      await app.close();
    }
  });

  it('without synchronize and without the new migration, stops start-up naming the columns and the fix, and changes nothing', async () => {
    await makeLatin1();
    const before = await withDataSource(db, { migrations: QUEUE_SCHEDULER_MIGRATIONS.filter((m) => m.name !== 'Utf8mb4TextColumns1764820000000') }, async (ds) => {
      await ds.runMigrations();
      return narrowColumns(ds);
    });
    expect(before).toContain('task_queue.error_message (latin1)');
    const app = await createApp(db, { synchronize: false });
    try {
      const error: unknown = await app.init().then(() => undefined, (err: unknown) => err);
      expect(error).toBeInstanceOf(InvalidOptionsError);
      const { message } = error as InvalidOptionsError;
      expect(message).toContain('task_queue.error_message (latin1)');
      expect(message).toContain('scheduler_task.name (latin1)');
      expect(message).toContain('Utf8mb4TextColumns1764820000000');
    } finally {
      await app.close();
    }
    await withDataSource(db, {}, async (ds) => expect(await narrowColumns(ds)).toEqual(before));
  });
});
