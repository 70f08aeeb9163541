import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';
import { describeDatabase } from './config/database.config';
import { DemoSeedService } from './seed/demo-seed.service';

async function bootstrap(): Promise<void> {
  const logger = new Logger('Demo');
  // forceCloseConnections: open dashboards hold keep-alive and SSE sockets that would otherwise delay shutdown.
  const app = await NestFactory.create<NestExpressApplication>(AppModule, { forceCloseConnections: true });
  configureApp(app);
  // SIGTERM/SIGINT run the shutdown hooks: the scheduler stops firing and the workers drain.
  app.enableShutdownHooks();
  const port = Number(process.env.PORT || 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got '${process.env.PORT}'`);
  // Loopback only unless HOST widens it: the dashboard can retry, cancel and pause tasks.
  const host = process.env.HOST?.trim() || '127.0.0.1';
  await app.listen(port, host);
  const seeded = app.get(DemoSeedService).report;
  const shown = host === '127.0.0.1' || host === '::1' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  logger.log(
    [
      `Dashboard: http://${shown}:${port}/queues/   (REST API under http://${shown}:${port}/api)`,
      `Database: ${describeDatabase()}`,
      process.env.DEMO_TOKEN?.trim()
        ? `Dashboard actions need DEMO_TOKEN: open http://${shown}:${port}/api/session?token=<DEMO_TOKEN> once`
        : 'Dashboard actions: from this machine only (set DEMO_TOKEN to require a token instead)',
      'Set up at boot:',
      ...seeded.map((line) => `  - ${line}`),
    ].join('\n'),
  );
}

bootstrap().catch((err: unknown) => {
  new Logger('Demo').error(`demo failed to start: ${(err as Error).message}`, (err as Error).stack);
  process.exit(1);
});
