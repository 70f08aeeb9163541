import type { QueryRunner } from 'typeorm';

export type Dialect = 'mysql' | 'postgres' | 'sqlite';

/** The SQL dialect of the connection a migration runs on; the library's migrations ship one script per dialect. */
export function dialectOf(queryRunner: QueryRunner): Dialect {
  const type: string = queryRunner.connection.options.type;
  if (type === 'mysql' || type === 'mariadb' || type === 'aurora-mysql') return 'mysql';
  if (type === 'postgres' || type === 'aurora-postgres' || type === 'cockroachdb') return 'postgres';
  if (type === 'sqlite' || type === 'better-sqlite3' || type === 'capacitor' || type === 'expo' || type === 'react-native') return 'sqlite';
  throw new Error(`nestjs-queue-scheduler migrations support MySQL/MariaDB, PostgreSQL and SQLite, not '${type}'`);
}
