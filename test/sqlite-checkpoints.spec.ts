import { Inject, Injectable, type BeforeApplicationShutdown, type INestApplication, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { QueueSchedulerModule, type QueueSchedulerModuleOptions } from 'nestjs-queue-scheduler';
import { SqliteCheckpointer } from 'nestjs-queue-scheduler/database/sqlite-checkpointer';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

interface Db {
  readonly name: string;
  readonly open: boolean;
  pragma(source: string, options?: { simple: boolean }): unknown;
  prepare(sql: string): { run(...params: unknown[]): unknown };
}

class CapturingLogger implements LoggerService {
  readonly warnings: string[] = [];
  log(): void {}
  error(): void {}
  warn(message: unknown): void {
    this.warnings.push(String(message));
  }
}

const connectionOf = (app: INestApplication): Db => (app.get<DataSource>(getDataSourceToken()).driver as unknown as { databaseConnection: Db }).databaseConnection;
const autocheckpointOf = (db: Db): number => Number(db.pragma('wal_autocheckpoint', { simple: true }));

/** What the app's connection says once every module's onModuleDestroy has run, while TypeORM still holds it open. */
@Injectable()
class ShutdownProbe implements BeforeApplicationShutdown {
  static seen: number | undefined;
  constructor(@Inject(getDataSourceToken()) private readonly ds: DataSource) {}
  beforeApplicationShutdown(): void {
    ShutdownProbe.seen = autocheckpointOf((this.ds.driver as unknown as { databaseConnection: Db }).databaseConnection);
  }
}

let dir: string;
const apps: INestApplication[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'qs-checkpoints-'));
});
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  ShutdownProbe.seen = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
async function boot(opts: { database?: string; wal?: boolean; autocheckpoint?: number; options?: QueueSchedulerModuleOptions; logger?: LoggerService } = {}): Promise<INestApplication> {
  const { wal = true, autocheckpoint = 100 } = opts;
  const typeorm = {
    type: 'better-sqlite3',
    database: opts.database ?? join(dir, `db-${++files}.sqlite`),
    autoLoadEntities: true,
    synchronize: true,
    logging: false,
    enableWAL: wal,
    prepareDatabase: (db: Db) => {
      db.pragma('synchronous = NORMAL');
      db.pragma(`wal_autocheckpoint = ${autocheckpoint}`);
    },
  } as TypeOrmModuleOptions;
  const moduleRef = await Test.createTestingModule({
    imports: [TypeOrmModule.forRoot(typeorm), QueueSchedulerModule.forRoot({ autoStart: false, logLevel: 'warn', ...opts.options })],
    providers: [ShutdownProbe],
  })
    .setLogger(opts.logger ?? new CapturingLogger())
    .compile();
  const app = moduleRef.createNestApplication({ logger: opts.logger ?? false });
  await app.init();
  apps.push(app);
  return app;
}

async function close(app: INestApplication): Promise<void> {
  apps.splice(apps.indexOf(app), 1);
  await app.close();
}

describe('SQLite checkpoints in a worker thread', () => {
  it('turns wal_autocheckpoint off on the app connection while it runs and gives the previous value back on close', async () => {
    const app = await boot({ autocheckpoint: 100 });
    const db = connectionOf(app);
    const checkpointer = app.get(SqliteCheckpointer);
    expect(autocheckpointOf(db)).toBe(0);
    const thread = checkpointer.thread!;
    expect(thread).toBeDefined();
    let exited = false;
    thread.on('exit', () => (exited = true));
    await close(app);
    expect(ShutdownProbe.seen).toBe(100);
    expect(exited).toBe(true);
    expect(checkpointer.thread).toBeUndefined();
  });

  it('keeps the WAL file bounded while the app commits all the time, which without any checkpoint grows by a page per commit', async () => {
    const app = await boot({ autocheckpoint: 100 });
    const db = connectionOf(app);
    db.pragma('journal_size_limit = -1');
    db.prepare('CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body BLOB)').run();
    const insert = db.prepare('INSERT INTO filler (body) VALUES (randomblob(400))');
    const pageBytes = Number(db.pragma('page_size', { simple: true }));
    const wal = `${db.name}-wal`;
    let commits = 0;
    let largest = 0;
    const until = Date.now() + 3000;
    // ten commits a turn, a real timer between turns: an app busy writing, with the loop still turning
    while (Date.now() < until) {
      for (let i = 0; i < 10; i++) insert.run();
      commits += 10;
      largest = Math.max(largest, statSync(wal).size);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    // every commit appends at least its table page (page + 24-byte frame header) to the WAL unless a checkpoint lets it start over
    const unbounded = commits * (pageBytes + 24);
    expect(commits).toBeGreaterThan(2000);
    expect(largest).toBeLessThan(unbounded / 4);
    expect(autocheckpointOf(db)).toBe(0);
  });

  it("with sqlite.checkpoints 'inline' changes nothing on the connection and starts no thread", async () => {
    const app = await boot({ autocheckpoint: 100, options: { sqlite: { checkpoints: 'inline' } } });
    expect(autocheckpointOf(connectionOf(app))).toBe(100);
    expect(app.get(SqliteCheckpointer).thread).toBeUndefined();
  });

  it.each<[string, { database?: string; wal?: boolean; autocheckpoint: number }]>([
    ['an in-memory database', { database: ':memory:', autocheckpoint: 100 }],
    ['a file not in WAL mode', { wal: false, autocheckpoint: 100 }],
    ['a connection whose app turned automatic checkpoints off itself', { autocheckpoint: 0 }],
  ])('leaves %s alone', async (_what, opts) => {
    const app = await boot(opts);
    expect(autocheckpointOf(connectionOf(app))).toBe(opts.autocheckpoint);
    expect(app.get(SqliteCheckpointer).thread).toBeUndefined();
  });

  it('gives wal_autocheckpoint back and warns when the thread stops on its own', async () => {
    const logger = new CapturingLogger();
    const app = await boot({ autocheckpoint: 100, logger });
    const db = connectionOf(app);
    const checkpointer = app.get(SqliteCheckpointer);
    expect(autocheckpointOf(db)).toBe(0);
    await checkpointer.thread!.terminate();
    await waitFor(() => autocheckpointOf(db) === 100, 'wal_autocheckpoint restored', 5000);
    await waitFor(() => logger.warnings.length > 0, 'the warning', 5000);
    expect(logger.warnings).toEqual([expect.stringContaining(`SQLite checkpoint thread for ${db.name} stopped`)]);
    expect(logger.warnings[0]).toContain('wal_autocheckpoint is back to 100');
    expect(checkpointer.thread).toBeUndefined();
    // and close does not set it to anything else
    await close(app);
    expect(ShutdownProbe.seen).toBe(100);
  });
});
