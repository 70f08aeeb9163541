/**
 * One app instance in a child process, for the multi-process suites. It
 * boots a Nest application context on the database in QS_DB (TypeORM
 * options as JSON) with the module options in QS_OPTIONS, prints one JSON
 * line per event the parents count, and closes cleanly on SIGTERM.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueSchedulerModule, type QueueSchedulerModuleOptions, TaskContext, TaskHandler, TaskQueue, WorkerPoolService } from 'nestjs-queue-scheduler';
import { DataSource, type DataSourceOptions } from 'typeorm';

const db = JSON.parse(process.env.QS_DB ?? '{}') as DataSourceOptions;
const options = JSON.parse(process.env.QS_OPTIONS ?? '{}') as QueueSchedulerModuleOptions;
const print = (line: Record<string, unknown>): boolean => process.stdout.write(`${JSON.stringify({ ...line, pid: process.pid, at: Date.now() })}\n`);

@Injectable()
class Handlers {
  constructor(private readonly ds: DataSource) {}

  @TaskHandler('tick')
  tick(): void {}

  /** Records every run in the ledger table: the proof of exactly-once (or at-least-once) delivery. */
  @TaskHandler('ledger', { retries: { attempts: 5, backoff: 'fixed', delayMs: 100 } })
  async ledger(_params: unknown, ctx: TaskContext): Promise<void> {
    await this.ds.query(
      this.ds.options.type === 'postgres' ? 'INSERT INTO ledger (task_id, attempt, pid) VALUES ($1, $2, $3)' : 'INSERT INTO ledger (task_id, attempt, pid) VALUES (?, ?, ?)',
      [ctx.taskId, ctx.attempt, process.pid],
    );
  }

  @TaskHandler('slow', { retries: { attempts: 3, backoff: 'fixed', delayMs: 10 } })
  async slow(params: { ms: number }, ctx: TaskContext): Promise<string> {
    print({ event: 'slow-started', id: ctx.taskId, attempt: ctx.attempt });
    await new Promise((resolve) => setTimeout(resolve, params.ms));
    print({ event: 'slow-done', id: ctx.taskId, attempt: ctx.attempt });
    return `done by ${process.pid}`;
  }

  /**
   * The default retry policy (attempts: 1), for the lost-tries suite. Runs
   * params.ms, or QS_HOLD_MS when this process has it: a process that is to
   * be killed holds its task until it is.
   */
  @TaskHandler('lossy')
  async lossy(params: { ms: number }, ctx: TaskContext): Promise<string> {
    print({ event: 'lossy-started', id: ctx.taskId, attempt: ctx.attempt });
    await new Promise((resolve) => setTimeout(resolve, Number(process.env.QS_HOLD_MS ?? params.ms)));
    print({ event: 'lossy-done', id: ctx.taskId, attempt: ctx.attempt });
    return `done by ${process.pid}`;
  }
}

@Module({
  imports: [
    TypeOrmModule.forRoot({ ...db, autoLoadEntities: true, synchronize: false } as never),
    QueueSchedulerModule.forRoot({ logLevel: 'error', ...options, scheduler: { pollIntervalMs: 200, ...options.scheduler } }),
  ],
  providers: [Handlers],
})
class InstanceModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(InstanceModule, { logger: ['error', 'fatal'] });
  app.enableShutdownHooks();
  // QS_START_ON_STDIN (with autoStart: false): the workers start when a line arrives on stdin, so that several
  // processes begin together. (Not a signal: enableShutdownHooks() turns SIGUSR2 and the like into a shutdown.)
  if (process.env.QS_START_ON_STDIN) {
    process.stdin.once('data', () => {
      process.stdin.destroy();
      app.get(WorkerPoolService).start();
    });
  }
  app.get(TaskQueue).events$.subscribe((e) => {
    // a stopping memory-backend instance cancels the occurrences it queued ahead and gives them back to their rows
    if ((e.kind === 'queued' || e.kind === 'cancelled') && e.schedulerTaskId) print({ event: e.kind, s: e.schedulerTaskId, scheduledAt: e.scheduledAt?.getTime() });
  });
  print({ event: 'ready' });
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
