import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_DB_PATH, databaseOptions, describeDatabase } from '../src/config/database.config';

describe('databaseOptions', () => {
  it.each([
    ['mysql://root@127.0.0.1:3306/demo', 'mysql'],
    ['mariadb://root@127.0.0.1:3306/demo', 'mariadb'],
    ['postgres://postgres@127.0.0.1:5432/demo', 'postgres'],
    ['postgresql://postgres@127.0.0.1:5432/demo', 'postgres'],
    ['PostgreSQL://postgres@127.0.0.1/demo', 'postgres'],
  ])('uses DATABASE_URL %s as TypeORM type %s', (url, type) => {
    expect(databaseOptions({ DATABASE_URL: url })).toMatchObject({ type, url, autoLoadEntities: true, synchronize: true });
  });

  it('refuses a DATABASE_URL with another scheme, naming the ones it takes', () => {
    expect(() => databaseOptions({ DATABASE_URL: 'mongodb://x/y' })).toThrow(/DATABASE_URL must start with mysql:\/\/, mariadb:\/\/, postgres:\/\/, postgresql:\/\/; got mongodb:\/\/…$/);
  });

  it('does not echo a DATABASE_URL without a scheme (it may hold a password)', () => {
    expect(() => databaseOptions({ DATABASE_URL: 'user:secret@db/x' })).toThrow(/got no scheme$/);
  });

  it('uses an SQLite file at DEMO_DB_PATH and creates its folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'demo-config-'));
    try {
      const path = join(dir, 'nested', 'deeper', 'x.sqlite');
      expect(databaseOptions({ DEMO_DB_PATH: path })).toMatchObject({ type: 'better-sqlite3', database: path });
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
});
