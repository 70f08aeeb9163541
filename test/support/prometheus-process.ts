/**
 * Child process of test/prometheus.spec.ts: what loading and booting
 * `nestjs-queue-scheduler/prometheus` does to a process, seen from outside
 * Jest's module registry. Prints one JSON line: whether prom-client was in
 * Node's require cache after importing the main entry, after importing the
 * prometheus entry and after booting the module, and the boot's error if any.
 * Run with test/support/hide-packages.js and QS_HIDE_PACKAGES=prom-client to
 * boot as if prom-client were not installed.
 */
import 'reflect-metadata';
import { sep } from 'node:path';

const promClientLoaded = (): boolean => Object.keys(require.cache).some((file) => file.includes(`${sep}node_modules${sep}prom-client${sep}`));

async function main(): Promise<void> {
  const { Module } = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  const { QueueSchedulerModule } = await import('nestjs-queue-scheduler');
  const afterMain = promClientLoaded();
  const { QueueSchedulerPrometheusModule } = await import('nestjs-queue-scheduler/prometheus');
  const afterEntry = promClientLoaded();

  @Module({ imports: [QueueSchedulerModule.forRoot({ dataSource: false, logLevel: 'fatal' }), QueueSchedulerPrometheusModule.forRoot({ path: false })] })
  class AppModule {}

  let error: Record<string, unknown> | undefined;
  try {
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
    await app.close();
  } catch (err) {
    const e = err as Error & { packageName?: string };
    error = { name: e.name, message: e.message, packageName: e.packageName };
  }
  process.stdout.write(`${JSON.stringify({ afterMain, afterEntry, afterBoot: promClientLoaded(), error })}\n`);
}

void main();
