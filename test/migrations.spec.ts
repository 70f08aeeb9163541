import { QUEUE_SCHEDULER_ENTITIES, QUEUE_SCHEDULER_MIGRATIONS } from 'nestjs-queue-scheduler';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { DATABASES, type DatabaseKind, useTestDatabase } from './support/databases';

// plus MariaDB through type 'mysql': TypeORM reads that server's schema differently there
const KINDS: DatabaseKind[] = [...new Set<DatabaseKind>([...DATABASES, 'mariadb-mysql'])];

describe.each(KINDS)('migrations on %s', (kind) => {
  const db = useTestDatabase(kind);

  it('create exactly the schema of the entities, and revert cleanly', async () => {
    const ds = new DataSource({ ...db.options, entities: QUEUE_SCHEDULER_ENTITIES, migrations: QUEUE_SCHEDULER_MIGRATIONS } as DataSourceOptions);
    try {
      await ds.initialize();
      const applied = await ds.runMigrations();
      expect(applied.map((m) => m.name)).toEqual(QUEUE_SCHEDULER_MIGRATIONS.map((m) => m.name));
      // nothing left for synchronize to do: migrations and entities agree
      const pending = await ds.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => q.query)).toEqual([]);
      for (let i = 0; i < applied.length; i++) await ds.undoLastMigration();
      const runner = ds.createQueryRunner();
      for (const table of ['scheduler_task', 'task_queue', 'queue_store', 'task_singleton', 'queue_paused_type', 'queue_rate_window', 'task_event']) expect(await runner.hasTable(table)).toBe(false);
      await runner.release();
    } finally {
      if (ds.isInitialized) await ds.destroy();
    }
  });
});
