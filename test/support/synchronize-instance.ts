/**
 * One app instance in a child process that boots with `synchronize: true`
 * (instance.ts always turns it off), for the suites about schema
 * synchronisation when several instances start together. Database in QS_DB,
 * module options in QS_OPTIONS; prints {"event":"ready"} and waits for SIGTERM.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueSchedulerModule, type QueueSchedulerModuleOptions } from 'nestjs-queue-scheduler';
import type { DataSourceOptions } from 'typeorm';

const db = JSON.parse(process.env.QS_DB ?? '{}') as DataSourceOptions;
const options = JSON.parse(process.env.QS_OPTIONS ?? '{}') as QueueSchedulerModuleOptions;

@Module({
  imports: [
    TypeOrmModule.forRoot({ ...db, autoLoadEntities: true, synchronize: true, retryAttempts: 0 } as never),
    QueueSchedulerModule.forRoot({ logLevel: 'error', ...options }),
  ],
})
class SynchronizeInstanceModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(SynchronizeInstanceModule, { logger: ['error', 'fatal'] });
  app.enableShutdownHooks();
  process.stdout.write(`${JSON.stringify({ event: 'ready', pid: process.pid })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
