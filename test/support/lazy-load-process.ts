/**
 * Child process of test/lazy-load.spec.ts: which of the library's optional
 * parts an app loads, seen in Node's require cache (Jest keeps a registry of
 * its own). Boots the embedded default (SQLite, memory queue) with a handler,
 * runs one occurrence of an interval schedule, then adds a cron schedule.
 * Prints one JSON line: whether the redis backend's code, the database
 * backend's code and cron-parser were loaded after the import, after the
 * interval's run and after the cron schedule was added.
 */
import 'reflect-metadata';
import { sep } from 'node:path';

const loaded = (): { redisBackend: boolean; databaseBackend: boolean; cronParser: boolean } => {
  const files = Object.keys(require.cache);
  return {
    // the service's own file is the class Nest injects; what it builds on is what an app on another backend must not load
    redisBackend: files.some((file) => file.includes(`${sep}queue${sep}redis${sep}`) && !file.includes('redis-queue.service')),
    databaseBackend: files.some((file) => file.includes(`${sep}queue${sep}database${sep}`) && !file.includes('database-queue.service')),
    cronParser: files.some((file) => file.includes(`${sep}node_modules${sep}cron-parser${sep}`)),
  };
};

async function main(): Promise<void> {
  // the library's timers are unref'd, as an app's server would keep the process up
  const keepAlive = setInterval(() => undefined, 1000);
  const { Injectable, Module } = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  const { TypeOrmModule } = await import('@nestjs/typeorm');
  const { QueueSchedulerModule, SchedulerService, TaskHandler } = await import('nestjs-queue-scheduler');
  const afterImport = loaded();

  let ran!: () => void;
  const firstRun = new Promise<void>((resolve) => (ran = resolve));
  @Injectable()
  class Handlers {
    @TaskHandler('tick')
    tick(): void {
      ran();
    }
  }
  @Module({
    imports: [
      TypeOrmModule.forRoot({ type: 'better-sqlite3', database: ':memory:', autoLoadEntities: true, synchronize: true }),
      QueueSchedulerModule.forRoot({ logLevel: 'fatal' }),
    ],
    providers: [Handlers],
  })
  class AppModule {}

  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  await app.init();
  const scheduler = app.get(SchedulerService);
  await scheduler.addSchedule({ name: 'every second', taskType: 'tick', scheduleType: 'interval', intervalSeconds: 1 });
  await firstRun;
  const afterInterval = loaded();
  await scheduler.addSchedule({ name: 'nightly', taskType: 'tick', scheduleType: 'cron', cronExpression: '0 2 * * *' });
  const afterCron = loaded();
  await app.close();
  clearInterval(keepAlive);
  process.stdout.write(`${JSON.stringify({ afterImport, afterInterval, afterCron })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
