import type { DataSource, QueryRunner } from 'typeorm';
import { type Dialect } from '../../migrations/dialect';

export type { Dialect };

/** The dialect of a DataSource (same mapping as the migrations use). */
export function dialectOfDataSource(ds: DataSource): Dialect {
  const type: string = ds.options.type;
  if (type === 'mysql' || type === 'mariadb' || type === 'aurora-mysql') return 'mysql';
  if (type === 'postgres' || type === 'aurora-postgres' || type === 'cockroachdb') return 'postgres';
  if (type === 'better-sqlite3' || type === 'sqlite' || type === 'capacitor' || type === 'expo' || type === 'react-native') return 'sqlite';
  throw new Error(`nestjs-queue-scheduler: the database backend supports MySQL/MariaDB, PostgreSQL and SQLite, not '${type}'`);
}

/**
 * Raw SQL with `?` placeholders on every database (rewritten to $n for
 * PostgreSQL), run through a query runner so UPDATE/DELETE report their
 * affected rows the same way everywhere.
 */
export class Sql {
  constructor(
    readonly ds: DataSource,
    readonly dialect: Dialect,
  ) {}

  /** `col` read back as JSON text, so values round-trip exactly whatever the driver parses. */
  json(col: string): string {
    if (this.dialect === 'postgres') return `${col}::text`;
    if (this.dialect === 'mysql') return `CAST(${col} AS CHAR)`;
    return col;
  }

  /** `n` placeholders for an IN list. */
  list(n: number): string {
    return Array.from({ length: n }, () => '?').join(', ');
  }

  /** Rows of a query, or of an UPDATE … RETURNING. */
  async rows<T>(sql: string, params: unknown[] = [], runner?: QueryRunner): Promise<T[]> {
    const result = await this.run(sql, params, runner);
    return (result.records ?? []) as T[];
  }

  /** Affected row count of an INSERT/UPDATE/DELETE. */
  async affected(sql: string, params: unknown[] = [], runner?: QueryRunner): Promise<number> {
    const result = await this.run(sql, params, runner);
    if (typeof result.affected === 'number') return result.affected;
    const raw = result.raw as { affectedRows?: number; changes?: number; rowCount?: number } | undefined;
    return raw?.affectedRows ?? raw?.changes ?? raw?.rowCount ?? 0;
  }

  /** Runs `work` in one transaction on one connection. */
  async transaction<T>(work: (runner: QueryRunner) => Promise<T>): Promise<T> {
    const runner = this.ds.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    try {
      const result = await work(runner);
      await runner.commitTransaction();
      return result;
    } catch (err) {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      throw err;
    } finally {
      await runner.release();
    }
  }

  private async run(sql: string, params: unknown[], runner?: QueryRunner) {
    const text = this.dialect === 'postgres' ? toDollar(sql) : sql;
    if (runner) return runner.query(text, params, true);
    const own = this.ds.createQueryRunner();
    try {
      return await own.query(text, params, true);
    } finally {
      await own.release();
    }
  }
}

function toDollar(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}
