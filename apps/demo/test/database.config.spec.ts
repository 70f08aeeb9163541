import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_DB_PATH, databaseOptions, describeDatabase } from '../src/config/database.config';

/** Stands in for the server behind a mysql:// URL. */
const mysqlServer = async () => '8.0.36';

describe('databaseOptions', () => {
  it.each([
    ['mysql://root@127.0.0.1:3306/demo', 'mysql'],
    ['mariadb://root@127.0.0.1:3306/demo', 'mariadb'],
    ['postgres://postgres@127.0.0.1:5432/demo', 'postgres'],
    ['postgresql://postgres@127.0.0.1:5432/demo', 'postgres'],
    ['PostgreSQL://postgres@127.0.0.1/demo', 'postgres'],
  ])('uses DATABASE_URL %s as TypeORM type %s', async (url, type) => {
    expect(await databaseOptions({ DATABASE_URL: url }, mysqlServer)).toMatchObject({ type, url, autoLoadEntities: true, synchronize: true });
  });

  it("uses type 'mariadb' for a mysql:// URL whose server is MariaDB", async () => {
    const probe = jest.fn(async () => '10.11.9-MariaDB-0+deb12u1');
    expect(await databaseOptions({ DATABASE_URL: 'mysql://root@db/demo' }, probe)).toMatchObject({ type: 'mariadb', url: 'mysql://root@db/demo' });
    expect(probe).toHaveBeenCalledWith('mysql://root@db/demo');
  });

  it("asks the server behind a mysql:// URL for its version (the local MariaDB here)", async () => {
    const url = `mysql://root@${process.env.MARIADB_HOST ?? '127.0.0.1'}:${process.env.MARIADB_PORT ?? 3306}/`;
    expect(await databaseOptions({ DATABASE_URL: url })).toMatchObject({ type: 'mariadb', url });
  });

  it("keeps type 'mysql' when the server cannot be asked, so TypeORM reports the connection error", async () => {
    const probe = async (): Promise<string> => {
      throw new Error('connect ECONNREFUSED');
    };
    expect(await databaseOptions({ DATABASE_URL: 'mysql://root@nowhere/demo' }, probe)).toMatchObject({ type: 'mysql' });
  });

  it('asks no server for the other schemes', async () => {
    const probe = jest.fn(mysqlServer);
    await databaseOptions({ DATABASE_URL: 'mariadb://root@db/demo' }, probe);
    await databaseOptions({ DATABASE_URL: 'postgres://postgres@db/demo' }, probe);
    expect(probe).not.toHaveBeenCalled();
  });

  it('refuses a DATABASE_URL with another scheme, naming the ones it takes', async () => {
    await expect(databaseOptions({ DATABASE_URL: 'mongodb://x/y' })).rejects.toThrow(/DATABASE_URL must start with mysql:\/\/, mariadb:\/\/, postgres:\/\/, postgresql:\/\/; got mongodb:\/\/…$/);
  });

  it('does not echo a DATABASE_URL without a scheme (it may hold a password)', async () => {
    await expect(databaseOptions({ DATABASE_URL: 'user:secret@db/x' })).rejects.toThrow(/got no scheme$/);
  });

  it('uses an SQLite file at DEMO_DB_PATH and creates its folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'demo-config-'));
    try {
      const path = join(dir, 'nested', 'deeper', 'x.sqlite');
      expect(await databaseOptions({ DEMO_DB_PATH: path })).toMatchObject({ type: 'better-sqlite3', database: path });
      expect(existsSync(join(dir, 'nested', 'deeper'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('defaults to data/demo.sqlite under the working directory', () => {
    expect(DEFAULT_DB_PATH).toBe('data/demo.sqlite');
    expect(describeDatabase({})).toBe(`sqlite ${resolve('data/demo.sqlite')}`);
  });

  it('masks the password of a DATABASE_URL in the start-up banner', () => {
    expect(describeDatabase({ DATABASE_URL: 'postgres://app:s3cret@db:5432/demo' })).toBe('postgres://app:***@db:5432/demo');
  });

  it.each([
    ['a password holding @, / and :', 'mysql://app:p@ss/w:rd@db:3306/demo', 'mysql://app:***@db:3306/demo'],
    ['a password in the query', 'postgres://db/demo?user=app&password=s3cret&sslmode=require', 'postgres://db/demo?user=app&password=***&sslmode=require'],
    ['both forms at once', 'mariadb://app:one@db/demo?PASSWORD=two&sslkey=three', 'mariadb://app:***@db/demo?PASSWORD=***&sslkey=***'],
    ['a URL a parser refuses', 'mysql://app:s3cret@db:port/demo', 'mysql://app:***@db:port/demo'],
    // TypeORM reads the userinfo up to the last @ before the first /, so such a password connects
    ['a password holding ? and #', 'mysql://app:pa?ss#1@db:3306/demo', 'mysql://app:***@db:3306/demo'],
    ['a password holding ? in a postgres URL with a query', 'postgres://app:hun?ter2@db/demo?sslmode=require', 'postgres://app:***@db/demo?sslmode=require'],
  ])('masks %s', (_what, url, shown) => {
    const banner = describeDatabase({ DATABASE_URL: url });
    expect(banner).toBe(shown);
    for (const secret of ['s3cret', 'p@ss', 'one', 'two', 'three', 'pa?ss', 'hun?ter2']) expect(banner).not.toContain(secret);
  });
});
