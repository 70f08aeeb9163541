import type { INestApplication, ModuleMetadata, Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueSchedulerModule, type QueueSchedulerModuleOptions } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { databaseFor, DATABASES, useTestDatabase } from './databases';
import { bootProducer } from './producer';
import { dropPrefix, REDIS, testPrefix } from './redis';

export type Backend = 'memory' | 'redis' | (typeof DATABASES)[number];
/** Every backend a contract suite runs on: memory, Redis and the test databases. */
export const BACKENDS: Backend[] = ['memory', 'redis', ...DATABASES];

/** The library's tables a fresh boot empties (one database per file). */
const TABLES = ['task_queue', 'queue_store', 'scheduler_task', 'queue_paused_type', 'queue_rate_window', 'task_singleton', 'task_event'];

/**
 * One app per test on `backend`, with its handler `providers`: the database
 * backend on the file's database, or Redis under a prefix of its own, or
 * memory. Closed (and its Redis prefix dropped) after each test.
 * `boot(…, { fresh: false })` boots again on what the last boot left;
 * `boot(…, { imports })` adds modules beside the library's (an exporter, say).
 */
export function useBackendApp(backend: Backend) {
  const db = useTestDatabase(databaseFor(backend));
  let app: INestApplication | undefined;
  let prefix = '';

  afterEach(async () => {
    await app?.close();
    app = undefined;
    if (prefix) await dropPrefix(prefix);
    prefix = '';
  });

  return {
    db,
    async close(): Promise<void> {
      await app?.close();
      app = undefined;
    },
    /** A producer-only app (no workers, no scheduler) on the last boot's database or Redis prefix: another instance. The caller closes it. */
    async producer(): Promise<INestApplication> {
      if (backend !== 'redis') return bootProducer(db);
      const moduleRef = await Test.createTestingModule({
        imports: [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, workers: { enabled: false }, scheduler: { enabled: false }, queue: { backend: 'redis', connection: REDIS, prefix } })],
      }).compile();
      const other = moduleRef.createNestApplication({ logger: false });
      await other.init();
      return other;
    },
    async boot(options: QueueSchedulerModuleOptions, providers: Provider[], { fresh = true, imports: extra = [] }: { fresh?: boolean; imports?: ModuleMetadata['imports'] } = {}): Promise<INestApplication> {
      if (backend === 'redis' && fresh) prefix = testPrefix();
      const logLevel = (process.env.QS_LOG as 'fatal' | undefined) ?? 'fatal';
      const imports =
        backend === 'redis'
          ? [QueueSchedulerModule.forRoot({ logLevel, dataSource: false, ...options, queue: { backend: 'redis', connection: REDIS, prefix, ...options.queue } })]
          : db.present
            ? [
                TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
                QueueSchedulerModule.forRoot({ logLevel, ...options, queue: { backend: 'database', ...options.queue } }),
              ]
            : [QueueSchedulerModule.forRoot({ logLevel, dataSource: false, ...options })];
      const moduleRef = await Test.createTestingModule({ imports: [...imports, ...extra], providers }).compile();
      app = moduleRef.createNestApplication({ logger: process.env.QS_LOG ? undefined : false });
      if (db.present && fresh) {
        const ds = app.get(DataSource);
        for (const table of TABLES) await ds.query(`DELETE FROM ${table}`);
      }
      await app.init();
      return app;
    },
  };
}
