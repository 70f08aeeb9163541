import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { TypeOrmModuleOptions } from '@nestjs/typeorm';

export const DEFAULT_DB_PATH = 'data/demo.sqlite';

/** URL schemes we accept in DATABASE_URL, and the TypeORM driver each one means. */
const SCHEMES: Record<string, 'mysql' | 'mariadb' | 'postgres'> = {
  mysql: 'mysql',
  mariadb: 'mariadb',
  postgres: 'postgres',
  postgresql: 'postgres',
};

/**
 * TypeORM options from the environment, read when the module initialises
 * (not at import) so tests can point DEMO_DB_PATH at a temporary file.
 * DATABASE_URL wins; otherwise an embedded SQLite file, so the demo needs
 * no database server.
 */
export function databaseOptions(env: NodeJS.ProcessEnv = process.env): TypeOrmModuleOptions {
  const common = { autoLoadEntities: true, synchronize: true, logging: false } as const;
  const url = env.DATABASE_URL?.trim();
  if (url) {
    const scheme = url.slice(0, Math.max(0, url.indexOf('://'))).toLowerCase();
    const type = SCHEMES[scheme];
    if (!type) {
      // Only the scheme is echoed: the rest of a URL may hold a password.
      const got = scheme ? `${scheme}://…` : 'no scheme';
      throw new Error(`DATABASE_URL must start with ${Object.keys(SCHEMES).map((s) => `${s}://`).join(', ')}; got ${got}`);
    }
    return { ...common, type, url };
  }
  const database = resolve(env.DEMO_DB_PATH?.trim() || DEFAULT_DB_PATH);
  mkdirSync(dirname(database), { recursive: true });
  return { ...common, type: 'better-sqlite3', database };
}

/** Where the data lives, for the start-up banner; the password of a URL is masked. */
export function describeDatabase(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.DATABASE_URL?.trim();
  if (url) return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
  return `sqlite ${resolve(env.DEMO_DB_PATH?.trim() || DEFAULT_DB_PATH)}`;
}
