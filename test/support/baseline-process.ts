/**
 * The benchmarks' baseline: the same Nest + TypeORM app as app-process.ts's
 * `bare` app, without nestjs-queue-scheduler. It is its own script because
 * app-process.ts loads the library at its first line (its handler classes are
 * decorated when the module loads), and what the library's code costs to load
 * belongs to the module's share, not to the baseline's.
 *
 * QS_DB: TypeORM options (JSON), as for app-process.ts. Prints `{"event":"ready"}` once up; SIGTERM closes it.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';

const db = JSON.parse(process.env.QS_DB ?? '{}') as Record<string, unknown>;

@Module({ imports: [TypeOrmModule.forRoot({ autoLoadEntities: true, synchronize: false, logging: false, ...db } as never)] })
class BaselineModule {}

NestFactory.createApplicationContext(BaselineModule, { logger: ['error', 'fatal'] })
  .then((ctx) => {
    ctx.enableShutdownHooks();
    process.stdout.write(`${JSON.stringify({ event: 'ready', pid: process.pid, at: Date.now() })}\n`);
  })
  .catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
