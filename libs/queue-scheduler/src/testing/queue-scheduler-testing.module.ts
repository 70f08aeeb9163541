import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QUEUE_SCHEDULER_CLOCK } from '../clock';
import { QUEUE_SCHEDULER_ENTITIES } from '../entities';
import type { QueueSchedulerModuleOptions } from '../interfaces/options.interface';
import { QueueSchedulerModule } from '../queue-scheduler.module';
import { QueueSchedulerTester } from './queue-scheduler.tester';
import { VirtualClock } from './virtual-clock';
import { MissingPackageError } from '../errors/errors';
import { requireOptional } from '../optional-package';

/** Name of the in-memory SQLite data source the testing module makes when the test brings none. */
export const TESTING_DATA_SOURCE = 'queue-scheduler-testing';

/** @publicApi */
export interface QueueSchedulerTestingOptions extends Omit<QueueSchedulerModuleOptions, 'queue'> {
  /** Where the virtual clock starts. @default the real time when forRoot is called */
  startAt?: Date | number | undefined;
  /**
   * Name of a TypeORM data source the test already sets up for the library's
   * tables; by default the module opens its own in-memory SQLite database
   * (needs `better-sqlite3`).
   */
  dataSource?: string | undefined;
  queue?: Omit<NonNullable<QueueSchedulerModuleOptions['queue']>, 'backend'> | undefined;
}

/**
 * The whole library on a virtual clock, for your own tests: the memory queue,
 * your `@TaskHandler`s, and the scheduler on an in-memory SQLite database.
 * Nothing runs by itself; `QueueSchedulerTester.advance(ms)` (or the
 * `VirtualClock`) moves time and runs every occurrence and task that falls
 * due, in order, with no real waiting.
 *
 * @example
 * const moduleRef = await Test.createTestingModule({
 *   imports: [QueueSchedulerTestingModule.forRoot({ startAt: new Date('2026-03-28T12:00:00Z') })],
 *   providers: [ReportHandlers],
 * }).compile();
 * await moduleRef.init();
 * const tester = moduleRef.get(QueueSchedulerTester);
 * @publicApi
 */
@Module({})
export class QueueSchedulerTestingModule {
  static forRoot(options: QueueSchedulerTestingOptions = {}): DynamicModule {
    const { startAt, dataSource, ...rest } = options;
    const clock = new VirtualClock(startAt ?? Date.now());
    const name = dataSource ?? TESTING_DATA_SOURCE;
    const core = QueueSchedulerModule.forRoot({
      logLevel: 'warn',
      ...rest,
      queue: { ...rest.queue, backend: 'memory' },
      dataSource: name,
      isGlobal: true,
    });
    // providers given here come after the module's own, so this clock replaces the system clock
    core.providers = [...(core.providers ?? []), { provide: QUEUE_SCHEDULER_CLOCK, useValue: clock }, { provide: VirtualClock, useValue: clock }, QueueSchedulerTester];
    core.exports = [...(core.exports ?? []), VirtualClock, QueueSchedulerTester];
    if (!dataSource) requireSqliteDriver();
    // no retries: an in-memory database that failed to open fails the same way again (TypeORM's 9 × 3 s outlasted Jest's timeout)
    const database = dataSource
      ? []
      : [TypeOrmModule.forRoot({ name, type: 'better-sqlite3', database: ':memory:', entities: QUEUE_SCHEDULER_ENTITIES, synchronize: true, logging: false, retryAttempts: 0 })];
    return { module: QueueSchedulerTestingModule, global: true, imports: [...database, core], exports: [core] };
  }
}

/**
 * Stops a test at once, naming the package, when the in-memory database cannot be opened for want of its driver:
 * TypeORM's own error came after its retries, half a minute later. Resolved, not loaded (`resolve` stands in for
 * require.resolve in tests).
 */
export function requireSqliteDriver(resolve: (name: string) => unknown = require.resolve): void {
  if (requireOptional('better-sqlite3', resolve) === null) {
    throw new MissingPackageError('better-sqlite3', 'QueueSchedulerTestingModule (its in-memory SQLite database; or pass dataSource)', 'better-sqlite3@12');
  }
}
