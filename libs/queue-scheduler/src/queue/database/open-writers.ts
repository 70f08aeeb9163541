import type { Sql } from '../../database/sql';
import type { LibraryLogger } from '../../queue-scheduler.logger';

/**
 * PostgreSQL: the transactions holding an xid (every one that has written a
 * row) still running. MySQL/MariaDB: InnoDB's running transactions that have
 * written a row (needs the PROCESS privilege).
 */
const OPEN_WRITERS: Record<'postgres' | 'mysql', string> = {
  postgres: 'SELECT pg_snapshot_xip(pg_current_snapshot())::text AS id',
  mysql: 'SELECT CAST(trx_id AS CHAR) AS id FROM information_schema.INNODB_TRX WHERE trx_rows_modified > 0',
};

/**
 * Tells a gap in `task_event` ids that an open transaction will still fill
 * from one that was rolled back. An id is taken at insert and seen at commit,
 * so the transaction holding a missing id had written (and so was listed here)
 * before the reader first saw the gap; once every transaction listed then has
 * ended, the gap is either committed or never will be. A push of 100,000 tasks
 * writes its events for several seconds before it commits, which a fixed
 * grace period alone took for a rollback.
 */
export class OpenWriters {
  private readonly statement: string | undefined;
  private unavailable = false;

  constructor(
    private readonly sql: Sql,
    private readonly logger: LibraryLogger,
  ) {
    // SQLite has one writer at a time: its ids commit in order
    this.statement = sql.dialect === 'sqlite' ? undefined : OPEN_WRITERS[sql.dialect];
  }

  /**
   * The open writers now; undefined where they cannot be read: a user without
   * MySQL's PROCESS privilege, a PostgreSQL before 13 (then only the grace
   * period applies), or a failed read.
   */
  async list(): Promise<ReadonlySet<string> | undefined> {
    if (this.statement === undefined || this.unavailable) return undefined;
    try {
      return new Set((await this.sql.rows<{ id: string | number }>(this.statement)).map((r) => String(r.id)));
    } catch (err) {
      if (!refused(err)) return undefined;
      this.unavailable = true;
      this.logger.warn(`clusterEvents$: cannot list open transactions (${(err as Error).message}); a gap in event ids is held for the grace period only, so the events of a transaction that commits later than that are skipped`);
      return undefined;
    }
  }

  /** Whether one of `writers` is still open; a failed read counts as open (the reader's cap still applies). */
  async anyOpen(writers: ReadonlySet<string>): Promise<boolean> {
    if (writers.size === 0) return false;
    const now = await this.list();
    if (now === undefined) return !this.unavailable;
    for (const id of now) if (writers.has(id)) return true;
    return false;
  }
}

/** MySQL's access denied (1227, 1142, 1044), PostgreSQL's undefined function (before 13) or insufficient privilege. */
function refused(err: unknown): boolean {
  const e = err as { errno?: number; code?: string; driverError?: { errno?: number; code?: string } };
  const errno = e.errno ?? e.driverError?.errno;
  const code = e.code ?? e.driverError?.code;
  return errno === 1227 || errno === 1142 || errno === 1044 || code === '42883' || code === '42501';
}
