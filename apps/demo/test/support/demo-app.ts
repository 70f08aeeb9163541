import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogLevel } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { AppModule } from '../../src/app.module';
import { configureApp } from '../../src/app.setup';

export interface DemoApp {
  app: NestExpressApplication;
  dbPath: string;
  /** Base URL when started with `listen: true` (a random free port on 127.0.0.1). */
  url: string;
  http(): ReturnType<typeof request>;
  close(): Promise<void>;
}

/** A fresh SQLite file in its own temporary folder, per test file. */
export function tempDbPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'demo-e2e-')), 'demo.sqlite');
}

/**
 * Boots the real AppModule, configured as main.ts configures it, on the
 * SQLite file `dbPath`. The module reads the environment when it is created,
 * so setting DEMO_DB_PATH here is enough.
 */
export async function bootDemo(options: { dbPath?: string; listen?: boolean; logger?: LogLevel[] | false } = {}): Promise<DemoApp> {
  const dbPath = options.dbPath ?? tempDbPath();
  process.env.DEMO_DB_PATH = dbPath;
  delete process.env.DATABASE_URL; // a developer's DATABASE_URL must not send the tests to a real server
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  // Quiet by default: failing tries are part of the tests and the library logs each one. DEMO_TEST_LOG=1 shows the logs.
  const logger = options.logger ?? (process.env.DEMO_TEST_LOG ? (['log', 'warn', 'error'] as LogLevel[]) : false);
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger, forceCloseConnections: true });
  configureApp(app);
  let url = '';
  if (options.listen) {
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  } else {
    await app.init();
  }
  let closed = false;
  return {
    app,
    dbPath,
    url,
    http: () => request(app.getHttpServer()),
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}

/** Removes the temporary folder of a database made by tempDbPath. */
export function removeDb(dbPath: string): void {
  rmSync(join(dbPath, '..'), { recursive: true, force: true });
}

/** Polls `probe` until `done` holds (tests wait for conditions, never for a hoped-for duration). */
export async function waitFor<T>(probe: () => Promise<T> | T, done: (value: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (done(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The text of a 400 body, whether from ValidationPipe (a list) or from the library's exception filter (one message). */
export function messageOf(body: { message?: string | string[] }): string {
  return Array.isArray(body.message) ? body.message.join('; ') : (body.message ?? '');
}

/**
 * The demo app for one test file: booted in beforeAll, closed and its
 * SQLite file removed in afterAll. The handle reads the booted app, so use
 * it inside tests and hooks.
 */
export function useDemoApp(options: { listen?: boolean } = {}): DemoApp {
  let booted: DemoApp | undefined;
  beforeAll(async () => {
    booted = await bootDemo(options);
  });
  afterAll(async () => {
    if (!booted) return;
    await booted.close();
    removeDb(booted.dbPath);
  });
  const current = (): DemoApp => {
    if (!booted) throw new Error('the demo app boots in beforeAll: use it inside a test or a hook');
    return booted;
  };
  return {
    get app() {
      return current().app;
    },
    get dbPath() {
      return current().dbPath;
    },
    get url() {
      return current().url;
    },
    http: () => current().http(),
    close: () => current().close(),
  };
}
