import { Inject, Injectable, type BeforeApplicationShutdown, type INestApplication, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { QueueSchedulerModule, type QueueSchedulerModuleOptions } from 'nestjs-queue-scheduler';
import { CHECKPOINT_INTERVAL_MS, SqliteCheckpointer } from 'nestjs-queue-scheduler/database/sqlite-checkpointer';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

interface Db {
  readonly name: string;
  readonly open: boolean;
  pragma(source: string, options?: { simple: boolean }): unknown;
  prepare(sql: string): { run(...params: unknown[]): unknown; get(...params: unknown[]): unknown };
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

/** The WAL header's checkpoint sequence number: SQLite adds one each time a commit starts the WAL over (and syncs the new header). */
function walStartedOver(database: string): number {
  const fd = openSync(`${database}-wal`, 'r');
  try {
    const header = Buffer.alloc(32);
    readSync(fd, header, 0, 32, 0);
    return header.readUInt32BE(12);
  } finally {
    closeSync(fd);
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
async function boot(opts: { database?: string; wal?: boolean; autocheckpoint?: number; timeout?: number; options?: QueueSchedulerModuleOptions; logger?: LoggerService } = {}): Promise<INestApplication> {
  const { wal = true, autocheckpoint = 100 } = opts;
  const typeorm = {
    type: 'better-sqlite3',
    database: opts.database ?? join(dir, `db-${++files}.sqlite`),
    autoLoadEntities: true,
    synchronize: true,
    logging: false,
    enableWAL: wal,
    ...(opts.timeout === undefined ? {} : { timeout: opts.timeout }),
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

  it("starts the WAL over in its thread once every frame is copied, so the app's next commit appends (no header fsync on the event loop), and leaves an idle file alone", async () => {
    const app = await boot({ autocheckpoint: 100 });
    const db = connectionOf(app);
    db.prepare('CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)').run();
    const insert = db.prepare("INSERT INTO notes (body) VALUES ('x')");
    db.pragma('user_version = 7');
    const startsOver = (): number => walStartedOver(db.name);
    insert.run();
    const afterCommit = startsOver();
    await waitFor(() => startsOver() !== afterCommit, 'the checkpoint thread to start the WAL over', 5000);
    const byThread = startsOver();
    insert.run();
    expect(startsOver()).toBe(byThread);
    // its write changes nothing the app can read
    expect(db.pragma('user_version', { simple: true })).toBe(7);
    // with nothing committed since, rounds pass without another start-over (one every round, were it to write regardless)
    await waitFor(() => startsOver() !== byThread, 'the start-over after the second commit', 5000);
    const quiet = startsOver();
    await new Promise((resolve) => setTimeout(resolve, CHECKPOINT_INTERVAL_MS * 5));
    expect(startsOver()).toBe(quiet);
    expect(db.prepare('SELECT count(*) AS n FROM notes').get()).toEqual({ n: 2 });
  });

  it("leaves the start-over to the app's own commit when its connection fails on a lock rather than waiting (busy_timeout 0)", async () => {
    const app = await boot({ timeout: 0 });
    const db = connectionOf(app);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(0);
    db.prepare('CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)').run();
    const afterCommit = walStartedOver(db.name);
    // a thread that started the WAL over does so within a round or two of a commit (the test above)
    await new Promise((resolve) => setTimeout(resolve, CHECKPOINT_INTERVAL_MS * 5));
    expect(walStartedOver(db.name)).toBe(afterCommit);
    // still checkpointed: the next commit finds every frame copied and starts the WAL over itself
    db.prepare("INSERT INTO notes (body) VALUES ('x')").run();
    expect(walStartedOver(db.name)).toBe(afterCommit + 1);
  });

  it("two apps' threads on one file do not take turns starting an idle WAL over", async () => {
    const database = join(dir, `db-${++files}.sqlite`);
    const first = await boot({ database });
    await boot({ database });
    connectionOf(first).prepare('CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)').run();
    const before = walStartedOver(database);
    await waitFor(() => walStartedOver(database) !== before, 'a thread to start the WAL over', 5000);
    // each start-over is a commit the other thread sees; were it to answer with one of its own, this would climb every round
    await new Promise((resolve) => setTimeout(resolve, CHECKPOINT_INTERVAL_MS * 2));
    const settled = walStartedOver(database);
    await new Promise((resolve) => setTimeout(resolve, CHECKPOINT_INTERVAL_MS * 5));
    expect(walStartedOver(database)).toBe(settled);
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
