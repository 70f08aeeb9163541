import 'reflect-metadata';
import { createServer } from 'node:net';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';
import { describeDatabase } from './config/database.config';
import { DemoSeedService } from './seed/demo-seed.service';

/**
 * Fails when `port` is taken, before anything starts: Nest binds the port last, after the app seeded its schedules and
 * started tasks, which a start that then died of EADDRINUSE left behind in the database, running under a dead lease.
 */
function portFree(port: number, host: string): Promise<void> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => fail(err.code === 'EADDRINUSE' ? new Error(`port ${port} on ${host} is in use: stop what holds it, or set PORT to another`) : err));
    probe.listen(port, host, () => probe.close(() => done()));
  });
}

async function bootstrap(): Promise<void> {
  const logger = new Logger('Demo');
  const given = process.env.PORT?.trim() || '3000';
  const port = /^\d+$/.test(given) ? Number(given) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got '${process.env.PORT}'`);
  // Loopback only unless HOST widens it: the dashboard can retry, cancel and pause tasks.
  const host = process.env.HOST?.trim() || '127.0.0.1';
  if (port !== 0) await portFree(port, host);
  // forceCloseConnections: open dashboards hold keep-alive and SSE sockets that would otherwise delay shutdown.
  const app = await NestFactory.create<NestExpressApplication>(AppModule, { forceCloseConnections: true });
  configureApp(app);
  // SIGTERM/SIGINT run the shutdown hooks: the scheduler stops firing and the workers drain.
  app.enableShutdownHooks();
  await app.listen(port, host);
  // PORT=0: the system chose one; the banner shows that one
  const bound = (app.getHttpServer().address() as { port: number }).port;
  const seeded = app.get(DemoSeedService).report;
  const shown = host === '127.0.0.1' || host === '::1' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  logger.log(
    [
      `Dashboard: http://${shown}:${bound}/queues/   (REST API under http://${shown}:${bound}/api)`,
      `Database: ${describeDatabase()}`,
      process.env.DEMO_TOKEN?.trim()
        ? `Actions (the dashboard's and the REST API's writes) need DEMO_TOKEN: open http://${shown}:${bound}/api/session?token=<DEMO_TOKEN> once`
        : 'Actions (the dashboard\'s and the REST API\'s writes): from this machine only (set DEMO_TOKEN to require a token instead)',
      'Set up at boot:',
      ...seeded.map((line) => `  - ${line}`),
    ].join('\n'),
  );
}

bootstrap().catch((err: unknown) => {
  new Logger('Demo').error(`demo failed to start: ${(err as Error).message}`, (err as Error).stack);
  process.exit(1);
});
