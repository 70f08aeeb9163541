import 'reflect-metadata';
import { type INestApplicationContext, Injectable, Module, type Provider } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueSchedulerModule, type QueueSchedulerModuleOptions, type TaskContext, TaskHandler } from 'nestjs-queue-scheduler';
import type { DataSourceOptions, Logger as TypeOrmLogger } from 'typeorm';

/**
 * What the benchmark handlers do: a module-level hook, set by each benchmark
 * before it pushes, so one decorated class serves every case.
 */
export const sink: { run: (params: unknown, ctx: TaskContext) => void | Promise<void> } = { run: () => undefined };

@Injectable()
class BenchHandlers {
  /** The no-op task of the throughput benchmarks; all the cost measured is the library's. */
  @TaskHandler('noop')
  noop(params: unknown, ctx: TaskContext): void | Promise<void> {
    return sink.run(params, ctx);
  }
}

/**
 * rate-limit's handler: 20 starts per 200 ms window (100/s), beside BullMQ's
 * limiter with the same numbers. Its own provider (boot's `providers`): a
 * rate-limited type changes every claim, so the other benchmarks leave it out.
 */
@Injectable()
export class LimitedHandlers {
  @TaskHandler('limited', { rateLimit: { max: 20, perMs: 200 } })
  limited(params: unknown, ctx: TaskContext): void | Promise<void> {
    return sink.run(params, ctx);
  }
}

/** Counts the SQL statements an app sends: the idle-load figure of schedule-scale. */
export class CountingLogger implements TypeOrmLogger {
  queries = 0;
  readonly byKind = new Map<string, number>();
  logQuery(query: string): void {
    this.queries++;
    const kind = query.trim().split(/\s+/)[0].toUpperCase();
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

export interface BootOptions {
  db?: DataSourceOptions;
  options: QueueSchedulerModuleOptions;
  logger?: TypeOrmLogger;
  synchronize?: boolean;
  /** More handler providers beside the no-op one. */
  providers?: Provider[];
}

/** Boots an application context the way an app does: TypeORM (when a database is given), our module, the handlers. */
export async function boot({ db, options, logger, synchronize = true, providers = [] }: BootOptions): Promise<INestApplicationContext> {
  const imports = db
    ? [TypeOrmModule.forRoot({ ...db, autoLoadEntities: true, synchronize, logging: logger ? ['query'] : false, logger } as never)]
    : [];
  @Module({
    imports: [...imports, QueueSchedulerModule.forRoot({ logLevel: 'error', ...options, ...(db ? {} : { dataSource: false }) } as never)],
    providers: [BenchHandlers, ...providers],
  })
  class BenchModule {}
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: ['error', 'fatal'] });
  await app.init();
  return app;
}
