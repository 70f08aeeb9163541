import type { DataSource, QueryRunner } from 'typeorm';
import { type Dialect } from '../migrations/dialect';

export type { Dialect };

/** TypeORM's isolation levels, read off its public QueryRunner: a deep import of typeorm's file fails to resolve under moduleResolution 'bundler'. */
type IsolationLevel = NonNullable<Parameters<QueryRunner['startTransaction']>[0]>;

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

  /** Whether a query finds any row: a plain read, so on InnoDB and PostgreSQL it takes no lock. */
  async exists(sql: string, params: unknown[] = [], runner?: QueryRunner): Promise<boolean> {
    return (await this.rows(sql, params, runner)).length > 0;
  }

  /** Affected row count of an INSERT/UPDATE/DELETE. */
  async affected(sql: string, params: unknown[] = [], runner?: QueryRunner): Promise<number> {
    const result = await this.run(sql, params, runner);
    if (typeof result.affected === 'number') return result.affected;
    const raw = result.raw as { affectedRows?: number; changes?: number; rowCount?: number } | undefined;
    return raw?.affectedRows ?? raw?.changes ?? raw?.rowCount ?? 0;
  }

  /**
   * Affected rows of an UPDATE/DELETE that finds its rows through an index
   * range (lease sweep, lease renewal, retention). Under MySQL's default
   * REPEATABLE READ it locked every entry it passed, and the gaps between
   * them, and deadlocked with batched completions; READ COMMITTED locks only
   * the rows it changes.
   */
  rangeAffected(sql: string, params: unknown[] = []): Promise<number> {
    if (this.dialect !== 'mysql') return this.affected(sql, params);
    return this.transaction((runner) => this.affected(sql, params, runner));
  }

  /**
   * Runs `work` in one transaction on one connection. A deadlock or lock
   * timeout rolls the whole transaction back, so it is run again from the
   * start: `work` must have no effect outside the transaction.
   * `isolation` picks MySQL's isolation level for each try (1, 2, …);
   * undefined leaves the session's own, and saves a round trip.
   */
  transaction<T>(work: (runner: QueryRunner) => Promise<T>, isolation: (attempt: number) => IsolationLevel | undefined = readCommitted): Promise<T> {
    if (this.dialect !== 'sqlite') return this.runTransaction(work, isolation);
    // SQLite: one connection per DataSource, and a BEGIN on it while another transaction is open fails; they take turns
    const turn = (sqliteTurns.get(this.ds) ?? Promise.resolve()).then(() => this.runTransaction(work, isolation));
    sqliteTurns.set(this.ds, turn.then(noop, noop));
    return turn;
  }

  private runTransaction<T>(work: (runner: QueryRunner) => Promise<T>, isolation: (attempt: number) => IsolationLevel | undefined): Promise<T> {
    return retryTransient(async (attempt) => {
      const runner = this.ds.createQueryRunner();
      await runner.connect();
      await runner.startTransaction(this.dialect === 'mysql' ? isolation(attempt) : undefined);
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
    });
  }

  private async run(sql: string, params: unknown[], runner?: QueryRunner) {
    const text = this.dialect === 'postgres' ? toDollar(sql) : sql;
    // inside a transaction the caller's transaction() retries the whole of it
    if (runner) return runner.query(text, params, true);
    return retryTransient(async () => {
      const own = this.ds.createQueryRunner();
      try {
        return await own.query(text, params, true);
      } finally {
        await own.release();
      }
    });
  }
}

/** The last transaction queued on each SQLite DataSource (see Sql.transaction). */
const sqliteTurns = new WeakMap<DataSource, Promise<void>>();
const noop = (): void => undefined;

/** MySQL/MariaDB: no gap locks, so SKIP LOCKED claims and inserts rarely deadlock (PostgreSQL's default already). */
const readCommitted = (): IsolationLevel => 'READ COMMITTED';

/** Error codes after which the database rolled the statement or transaction back and a retry can succeed. */
const TRANSIENT_CODES = new Set([
  'ER_LOCK_DEADLOCK', // MySQL/MariaDB 1213
  'ER_LOCK_WAIT_TIMEOUT', // MySQL/MariaDB 1205
  '40P01', // PostgreSQL deadlock_detected
  '40001', // PostgreSQL serialization_failure
  'SQLITE_BUSY',
  'SQLITE_BUSY_SNAPSHOT',
]);
const TRANSIENT_ATTEMPTS = 5;

/**
 * A pooled connection that the server closed (it drops the connection after a
 * statement past max_allowed_packet, or on a restart): mysql2 may still hand it
 * out once, and every command on it fails at once without reaching the server.
 * A new query runner takes another connection, so such a statement is run again.
 */
const CLOSED_CONNECTION_CODES = new Set(['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE']);
const CLOSED_CONNECTION_MESSAGE = /in closed state|Connection lost|connection is closed|Connection terminated/i;

/** A failed statement's code, errno and message, from the driver's error whether TypeORM wrapped it (QueryFailedError) or not. */
export function driverErrorOf(err: unknown): { code: string; errno: unknown; message: string } {
  const e = err as { code?: unknown; errno?: unknown; message?: unknown; driverError?: { code?: unknown; errno?: unknown; message?: unknown } } | null;
  return { code: String(e?.code ?? e?.driverError?.code ?? ''), errno: e?.errno ?? e?.driverError?.errno, message: String(e?.driverError?.message ?? e?.message ?? '') };
}

export function isTransientDbError(err: unknown): boolean {
  const { code, message } = driverErrorOf(err);
  if (TRANSIENT_CODES.has(code) || CLOSED_CONNECTION_CODES.has(code)) return true;
  return CLOSED_CONNECTION_MESSAGE.test(message);
}

/** Runs `fn` again, after a short random pause, while it fails with a deadlock or lock timeout. */
export async function retryTransient<T>(fn: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= TRANSIENT_ATTEMPTS || !isTransientDbError(err)) throw err;
      // random, so the two sides of a deadlock do not collide again in step
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}

function toDollar(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}
