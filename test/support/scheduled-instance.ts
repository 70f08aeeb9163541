/**
 * One app instance with @Scheduled declarations, in a child process, for the
 * multi-process upsert suite. Once its code is loaded it prints `loaded` and
 * waits for SIGUSR2, so the parent can make all instances boot at the same
 * moment; then it boots a Nest application context on the database in QS_DB
 * with the declarations of QS_VARIANT ('1' or '2'),
 * prints the library's log lines of DeclaredSchedulesService as JSON, then
 * `ready`, and closes cleanly on SIGTERM.
 */
import 'reflect-metadata';
import { Injectable, type LoggerService, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueSchedulerModule, Scheduled, type ScheduledOptions, TaskHandler } from 'nestjs-queue-scheduler';
import type { DataSourceOptions } from 'typeorm';

const db = JSON.parse(process.env.QS_DB ?? '{}') as DataSourceOptions;
const variant = process.env.QS_VARIANT ?? '1';
const print = (line: Record<string, unknown>): boolean => process.stdout.write(`${JSON.stringify({ ...line, pid: process.pid, at: Date.now() })}\n`);

/** Variant 2 changes `report-a`'s cron and `sweep`'s params, and drops `report-b`. */
const v2 = variant === '2';
const A: ScheduledOptions = { key: 'report-a', cron: v2 ? '0 3 * * *' : '0 2 * * *', timezone: 'Asia/Shanghai' };
const B: ScheduledOptions = { key: 'report-b', cron: '30 * * * *' };
/** Declared on one method in a loop (a method may carry several @Scheduled). */
const BULK = 20;
const SWEEP: ScheduledOptions = { key: 'sweep', interval: 3600, params: { dir: v2 ? '/tmp/b' : '/tmp/a' } };

/** `@Scheduled` in variant 1 only. */
const inV1 = (options: ScheduledOptions): MethodDecorator => (v2 ? () => undefined : Scheduled(options));

@Injectable()
class Jobs {
  @Scheduled(A)
  @inV1(B)
  @TaskHandler('mp_report')
  report(): void {}

  @Scheduled(SWEEP)
  @TaskHandler('mp_sweep')
  sweep(): void {}

  @TaskHandler('mp_bulk')
  bulk(): void {}
}

// many keys, so the instances' writes overlap in time: bulk-00 … bulk-19, unchanged between the variants
for (let i = 0; i < BULK; i++) {
  Scheduled({ key: `bulk-${String(i).padStart(2, '0')}`, interval: 60 + i })(Jobs.prototype, 'bulk', Object.getOwnPropertyDescriptor(Jobs.prototype, 'bulk')!);
}

/** Prints what the library logs about declared schedules; everything at error level goes to stderr. */
class PrintingLogger implements LoggerService {
  log(message: unknown, context?: string): void {
    if (context === 'DeclaredSchedulesService') print({ event: 'log', level: 'log', message });
  }
  warn(message: unknown, context?: string): void {
    if (context === 'DeclaredSchedulesService') print({ event: 'log', level: 'warn', message });
  }
  error(message: unknown, ...rest: unknown[]): void {
    process.stderr.write(`${String(message)} ${rest.join(' ')}\n`);
  }
}

@Module({
  imports: [
    TypeOrmModule.forRoot({ ...db, autoLoadEntities: true, synchronize: false } as never),
    QueueSchedulerModule.forRoot({ logLevel: 'log', workers: { enabled: false }, scheduler: { enabled: false } }),
  ],
  providers: [Jobs],
})
class ScheduledInstanceModule {}

async function main(): Promise<void> {
  const go = new Promise((resolve) => process.once('SIGUSR2', resolve));
  const alive = setInterval(() => undefined, 1000); // a signal listener alone does not keep the process running
  print({ event: 'loaded' });
  await go;
  clearInterval(alive);
  const app = await NestFactory.createApplicationContext(ScheduledInstanceModule, { logger: new PrintingLogger() });
  app.enableShutdownHooks();
  print({ event: 'ready' });
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
