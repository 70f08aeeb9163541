/**
 * One app instance in a child process, for the multi-instance suites. It
 * boots a Nest application context on the database given in QS_DB (JSON
 * TypeORM options), prints one JSON line per event the parent asked for,
 * and closes cleanly on SIGTERM.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { MemoryQueueService, QueueSchedulerModule, TaskHandler } from 'nestjs-queue-scheduler';
import type { DataSourceOptions } from 'typeorm';

const db = JSON.parse(process.env.QS_DB ?? '{}') as DataSourceOptions;

@Injectable()
class Handlers {
  @TaskHandler('tick')
  tick(): void {}
}

@Module({
  imports: [
    TypeOrmModule.forRoot({ ...db, autoLoadEntities: true, synchronize: false } as never),
    QueueSchedulerModule.forRoot({ logLevel: 'error', scheduler: { pollIntervalMs: 200 } }),
  ],
  providers: [Handlers],
})
class InstanceModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(InstanceModule, { logger: ['error', 'fatal'] });
  app.enableShutdownHooks();
  app.get(MemoryQueueService).events$.subscribe((e) => {
    if (e.kind === 'queued' && e.schedulerTaskId) {
      process.stdout.write(`${JSON.stringify({ event: 'queued', s: e.schedulerTaskId, at: e.scheduledAt?.getTime(), pid: process.pid })}\n`);
    }
  });
  process.stdout.write(`${JSON.stringify({ event: 'ready', pid: process.pid })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
