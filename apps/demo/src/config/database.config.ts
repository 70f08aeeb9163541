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

/** The server's VERSION() behind a mysql:// URL. */
export type ServerVersionProbe = (url: string) => Promise<string>;

async function serverVersion(url: string): Promise<string> {
  const mysql = await import('mysql2/promise');
  const connection = await mysql.createConnection({ uri: url, connectTimeout: 5000 });
  try {
    const [rows] = await connection.query('SELECT VERSION() AS version');
    return String((rows as Array<{ version?: unknown }>)[0]?.version ?? '');
  } finally {
    await connection.end();
  }
}

/**
 * A mysql:// URL often points at MariaDB, which TypeORM reads correctly only
 * as type 'mariadb' (column defaults, RETURNING), so the server is asked.
 * When it cannot be reached, 'mysql' it is: TypeORM then reports the
 * connection error itself, with its retries.
 */
async function mysqlOrMariaDb(url: string, probe: ServerVersionProbe): Promise<'mysql' | 'mariadb'> {
  try {
    return /mariadb/i.test(await probe(url)) ? 'mariadb' : 'mysql';
  } catch {
    return 'mysql';
  }
}

/**
 * TypeORM options from the environment, read when the module initialises
 * (not at import) so tests can point DEMO_DB_PATH at a temporary file.
 * DATABASE_URL wins; otherwise an embedded SQLite file, so the demo needs
 * no database server.
 */
export async function databaseOptions(env: NodeJS.ProcessEnv = process.env, probe: ServerVersionProbe = serverVersion): Promise<TypeOrmModuleOptions> {
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
    return { ...common, type: type === 'mysql' ? await mysqlOrMariaDb(url, probe) : type, url };
  }
  const database = resolve(env.DEMO_DB_PATH?.trim() || DEFAULT_DB_PATH);
  mkdirSync(dirname(database), { recursive: true });
  return { ...common, type: 'better-sqlite3', database };
}

/** Where the data lives, for the start-up banner; the password of a URL is masked. */
export function describeDatabase(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.DATABASE_URL?.trim();
  if (url) return maskUrl(url);
  return `sqlite ${resolve(env.DEMO_DB_PATH?.trim() || DEFAULT_DB_PATH)}`;
}

/** Query parameters that drivers read as secrets (`?password=`, `&sslkey=`…), up to their value. */
const SECRET_PARAM = /([?&;][^=&;#]*(?:pass|pwd|secret|token|key)[^=&;#]*=)[^&;#]*/gi;

/**
 * `url` with its secrets masked: the password of the userinfo and every
 * secret-looking query parameter. The userinfo ends at the last `@`, read
 * both as a URL parser reads it (before the query) and as TypeORM does
 * (before the first `/`), whichever goes further: a password holding `@`,
 * `/`, `:`, `?` or `#` is masked whole.
 */
export function maskUrl(url: string): string {
  const parts = /^([a-z][a-z0-9+.-]*:\/\/)(.*)$/is.exec(url);
  if (!parts) return '(a DATABASE_URL without a scheme)';
  const [, scheme, body] = parts;
  const slash = body.indexOf('/');
  const at = Math.max((slash < 0 ? body : body.slice(0, slash)).lastIndexOf('@'), body.split(/[?#]/)[0].lastIndexOf('@'));
  const colon = body.indexOf(':');
  const [userinfo, rest] = at >= 0 && colon >= 0 && colon < at ? [`${body.slice(0, colon)}:***`, body.slice(at)] : ['', body];
  return scheme + userinfo + rest.replace(SECRET_PARAM, '$1***');
}
