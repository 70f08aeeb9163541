import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';

/**
 * `mariadb-mysql` is the MariaDB server reached through TypeORM's `type: 'mysql'`
 * driver: what most mysql2 users write. It is not in the default list (every
 * suite would run twice on MariaDB); suites about schema and integrity name it.
 */
export type DatabaseKind = 'sqlite' | 'mariadb' | 'postgres' | 'mariadb-mysql';

/**
 * The databases the suites run against: all three by default (the servers
 * are part of the test environment; `.ci/run` starts them). TEST_DATABASES
 * narrows the list for a quick local run, e.g. TEST_DATABASES=sqlite.
 */
export const DATABASES: DatabaseKind[] = (process.env.TEST_DATABASES ?? 'sqlite,mariadb,postgres')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean) as DatabaseKind[];

export const MARIADB = { host: process.env.MARIADB_HOST ?? '127.0.0.1', port: Number(process.env.MARIADB_PORT ?? 3306), user: 'root', password: '' };
export const POSTGRES = { host: process.env.POSTGRES_HOST ?? '127.0.0.1', port: Number(process.env.POSTGRES_PORT ?? 5432), user: 'postgres' };

export interface TestDatabase {
  kind: DatabaseKind;
  /** Connection options without entities; spread them into TypeOrmModule.forRoot or a DataSource. */
  options: DataSourceOptions;
  drop(): Promise<void>;
}

/** A fresh, empty database of `kind` for one test file (or one test), dropped by `drop()`. */
export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  const name = `qs_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  if (kind === 'sqlite') {
    const dir = join(process.cwd(), '.tmp');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${name}.sqlite`);
    return {
      kind,
      options: { type: 'better-sqlite3', database: file },
      drop: async () => rmSync(file, { force: true }),
    };
  }
  if (kind === 'mariadb' || kind === 'mariadb-mysql') {
    const mysql = await import('mysql2/promise');
    const admin = await mysql.createConnection({ ...MARIADB });
    await admin.query(`CREATE DATABASE \`${name}\``);
    await admin.end();
    return {
      kind,
      options: { type: kind === 'mariadb' ? 'mariadb' : 'mysql', host: MARIADB.host, port: MARIADB.port, username: 'root', password: '', database: name },
      drop: async () => {
        const c = await mysql.createConnection({ ...MARIADB });
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
        await c.end();
      },
    };
  }
  const { Client } = await import('pg');
  const admin = new Client({ ...POSTGRES, database: 'test' });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  return {
    kind,
    options: { type: 'postgres', host: POSTGRES.host, port: POSTGRES.port, username: POSTGRES.user, database: name },
    drop: async () => {
      const c = new Client({ ...POSTGRES, database: 'test' });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface SuiteDatabase extends TestDatabase {
  /**
   * Runs `fn` before the database is dropped, in the order registered:
   * close what holds connections to it (an app, a DataSource, child
   * processes). Jest runs after-hooks in declaration order, so an afterAll of
   * the suite's own would come after the drop.
   */
  beforeDrop(fn: () => unknown): void;
}

/**
 * A fresh database of `kind` for the enclosing describe block: created in
 * beforeAll (beforeEach with `{ each: true }`: one per test) by
 * createTestDatabase, dropped in afterAll (afterEach) after the
 * `beforeDrop` callbacks. Its fields are readable inside hooks and tests.
 * No `kind` (a memory or Redis backend in a table of backends): nothing is
 * created, `present` is false and reading `options` throws.
 */
export function useTestDatabase(kind: DatabaseKind | undefined, { each = false }: { each?: boolean } = {}): SuiteDatabase & { readonly present: boolean } {
  let db: TestDatabase | undefined;
  const cleanups: Array<() => unknown> = [];
  const current = (): TestDatabase => {
    if (!db) throw new Error(kind ? `the ${kind} test database exists only inside hooks and tests` : 'this suite has no test database');
    return db;
  };
  (each ? beforeEach : beforeAll)(async () => {
    if (kind) db = await createTestDatabase(kind);
  });
  (each ? afterEach : afterAll)(async () => {
    try {
      for (const fn of cleanups) await fn();
    } finally {
      await db?.drop();
      db = undefined;
    }
  });
  return {
    get kind() {
      return kind ?? current().kind;
    },
    get options() {
      return current().options;
    },
    get present() {
      return db !== undefined;
    },
    drop: () => current().drop(),
    beforeDrop: (fn) => void cleanups.push(fn),
  };
}

/** The database a queue backend's suite needs: none for the memory and Redis backends. */
export const databaseFor = (backend: DatabaseKind | 'memory' | 'redis'): DatabaseKind | undefined => (backend === 'memory' || backend === 'redis' ? undefined : backend);
