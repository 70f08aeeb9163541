/**
 * One app instance of the reliability suite, in a child process. Its
 * handlers write the ledger (`ledger_start` on entry, `ledger_done` on
 * success) through their own DataSource query, so the parent proves each
 * promise with SQL counts. QS_DB: TypeORM options (JSON); QS_OPTIONS: module
 * options; QS_RETRIES: the `work` handler's retry policy; QS_PRODUCE=n pushes
 * n tasks one by one (printing each resolved push). Prints one JSON line per
 * event, library warnings and errors included, and closes cleanly on SIGTERM.
 */
import 'reflect-metadata';
import { Injectable, type LoggerService, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueSchedulerModule, type QueueSchedulerModuleOptions, type RetryPolicy, TaskContext, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { DataSource, type DataSourceOptions } from 'typeorm';

const db = JSON.parse(process.env.QS_DB ?? '{}') as DataSourceOptions;
const options = JSON.parse(process.env.QS_OPTIONS ?? '{}') as QueueSchedulerModuleOptions;
const retries = JSON.parse(process.env.QS_RETRIES ?? '{"attempts":1}') as RetryPolicy;
const print = (line: Record<string, unknown>): boolean => process.stdout.write(`${JSON.stringify({ ...line, pid: process.pid, at: Date.now() })}\n`);

// the outage scenario's promise: whatever the database does, nothing escapes as an unhandled rejection
process.on('unhandledRejection', (reason) => print({ event: 'unhandledRejection', reason: String((reason as Error)?.stack ?? reason) }));
process.on('uncaughtException', (err) => print({ event: 'uncaughtException', reason: String(err.stack ?? err) }));

export interface WorkParams {
  /** Busy-waits this long inside the handler's first try: a real, one-off event-loop stall (a GC pause, a sync call). */
  stallMs?: number;
  /** Awaits this long (the event loop stays free). */
  sleepMs?: number;
  /** Chance that a try throws. */
  failRate?: number;
  /** Every try throws. */
  poison?: boolean;
}

@Injectable()
class LedgerHandlers {
  constructor(private readonly ds: DataSource) {}

  private sql(text: string): string {
    let i = 0;
    return this.ds.options.type === 'postgres' ? text.replace(/\?/g, () => `$${++i}`) : text;
  }

  private async start(ctx: TaskContext): Promise<void> {
    await this.ds.query(this.sql('INSERT INTO ledger_start (task_id, attempt, pid, at) VALUES (?, ?, ?, ?)'), [ctx.taskId, ctx.attempt, process.pid, Date.now()]);
  }

  private async done(ctx: TaskContext): Promise<void> {
    await this.ds.query(this.sql('INSERT INTO ledger_done (task_id, pid, at) VALUES (?, ?, ?)'), [ctx.taskId, process.pid, Date.now()]);
  }

  @TaskHandler('work', { retries })
  async work(params: WorkParams, ctx: TaskContext): Promise<void> {
    await this.start(ctx);
    if (params.stallMs && ctx.attempt === 1) {
      print({ event: 'stall', id: ctx.taskId, attempt: ctx.attempt, ms: params.stallMs });
      const until = Date.now() + params.stallMs;
      while (Date.now() < until); // deliberately blocks the event loop
    }
    if (params.sleepMs) await new Promise((resolve) => setTimeout(resolve, params.sleepMs));
    if (params.poison || (params.failRate && Math.random() < params.failRate)) throw new Error(`injected failure on attempt ${ctx.attempt}`);
    await this.done(ctx);
  }

  /** The scheduler's occurrences: one ledger row per run, keyed by the occurrence's task id. */
  @TaskHandler('occurrence')
  async occurrence(_params: unknown, ctx: TaskContext): Promise<void> {
    await this.start(ctx);
    await this.done(ctx);
  }
}

/** Prints the library's warnings and errors as JSON lines, so the parent can count lost leases and backoffs. */
class PrintingLogger implements LoggerService {
  log(): void {}
  warn(message: unknown, context?: string): void {
    print({ event: 'log', level: 'warn', context, message: String(message) });
  }
  error(message: unknown, ...rest: unknown[]): void {
    print({ event: 'log', level: 'error', context: rest.at(-1), message: String(message) });
  }
}

@Module({
  imports: [
    TypeOrmModule.forRoot({ ...db, autoLoadEntities: true, synchronize: false, logging: false } as never),
    QueueSchedulerModule.forRoot({ logLevel: 'warn', ...options }),
  ],
  providers: [LedgerHandlers],
})
class LedgerInstanceModule {}

async function produce(queue: TaskQueue, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const taskId = `p${process.pid}-${i}`;
    try {
      await queue.pushTask({ taskId, type: 'work', params: {} });
      print({ event: 'pushed', id: taskId });
    } catch (err) {
      print({ event: 'push-failed', id: taskId, error: (err as Error).message });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  print({ event: 'produced' });
}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(LedgerInstanceModule, { logger: new PrintingLogger() });
  app.enableShutdownHooks();
  print({ event: 'ready' });
  const n = Number(process.env.QS_PRODUCE ?? 0);
  if (n > 0) void produce(app.get(TaskQueue), n);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
