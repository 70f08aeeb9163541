import type { Sql } from '../../database/sql';
import type { LibraryLogger } from '../../queue-scheduler.logger';

/**
 * PostgreSQL: the transactions of this database that hold `task_event` for
 * writing (an INSERT takes RowExclusiveLock on the table before its id, and
 * keeps it until the transaction ends), named by their virtual transaction
 * ids. Another table's writer, or another database's, is not one of them.
 */
const TASK_EVENT_WRITERS =
  "SELECT DISTINCT virtualtransaction AS id FROM pg_locks WHERE locktype = 'relation' AND relation = to_regclass('task_event') " +
  "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND mode = 'RowExclusiveLock' AND granted";

/**
 * MySQL/MariaDB: a locking read of the missing ids themselves. A row an open
 * transaction inserted is locked by it, so NOWAIT fails at once; a rolled-back
 * (or pruned) id is no row, and the read returns. Shared locks: another
 * reader's probe, or an app's own locking read of these rows, does not count
 * as a writer (an exclusive probe took them for one). Needs no privilege beyond
 * the table's; autocommit, so its locks end with the statement. MariaDB's
 * syntax first, then MySQL 8's (each refuses the other's).
 */
const GAP_LOCKS = ['LOCK IN SHARE MODE NOWAIT', 'FOR SHARE NOWAIT'];
/**
 * A gap up to this many ids is probed id by id, one equality read per id (UNION ALL): a range read also locks the
 * row just past it (repeatable read's next-key lock), and `id IN (…)` on a small table is read as a scan of the whole
 * index, locking every row; an app's own FOR UPDATE of any of them made the gap look held. A larger gap (a big batch)
 * by range.
 */
const LISTED_GAP = 500;
/** ER_PARSE_ERROR: this server's syntax is the other one. */
const SYNTAX = 1064;
/** ER_LOCK_WAIT_TIMEOUT (MariaDB's NOWAIT), ER_LOCK_NOWAIT (MySQL 8). */
const HELD = new Set([1205, 3572]);

/** What holds a gap: the writers seen when the reader first saw it (PostgreSQL), or the gap's ids to look at again (MySQL). */
export type GapHolders = ReadonlySet<string> | { readonly from: number; readonly to: number };

/**
 * Tells a gap in `task_event` ids that an open transaction will still fill
 * from one that was rolled back. An id is taken at insert and seen at commit;
 * a push of 100,000 tasks writes its events for several seconds before it
 * commits, which a fixed grace period alone took for a rollback. Only the
 * transactions that write `task_event` count: a long transaction of the app's
 * own, on its own tables, holds no reader.
 */
export class OpenWriters {
  private unavailable = false;
  /** Which of GAP_LOCKS this server takes. */
  private probeSyntax = 0;

  constructor(
    private readonly sql: Sql,
    private readonly logger: LibraryLogger,
  ) {}

  /**
   * What may still fill the ids after `from` and before `to`; undefined where
   * that cannot be read (SQLite needs none: one writer at a time, its ids
   * commit in order; a failed or refused read), and then only the grace period applies.
   */
  async holders(from: number, to: number): Promise<GapHolders | undefined> {
    if (this.sql.dialect === 'sqlite' || this.unavailable) return undefined;
    return this.sql.dialect === 'mysql' ? { from, to } : this.writers();
  }

  /** Whether one of `holders` is still open; a failed read counts as open (the reader's cap still applies). */
  async anyOpen(holders: GapHolders): Promise<boolean> {
    if (!(holders instanceof Set)) return this.probe(holders as { from: number; to: number });
    if (holders.size === 0) return false;
    const now = await this.writers();
    if (now === undefined) return !this.unavailable;
    for (const id of now) if (holders.has(id)) return true;
    return false;
  }

  private async writers(): Promise<ReadonlySet<string> | undefined> {
    try {
      return new Set((await this.sql.rows<{ id: string }>(TASK_EVENT_WRITERS)).map((r) => String(r.id)));
    } catch (err) {
      return this.failed(err);
    }
  }

  private async probe({ from, to }: { from: number; to: number }): Promise<boolean> {
    try {
      const ids = Array.from({ length: to - from - 1 <= LISTED_GAP ? to - from - 1 : 0 }, (_, i) => from + 1 + i);
      const lock = GAP_LOCKS[this.probeSyntax];
      const text = ids.length ? ids.map(() => `(SELECT id FROM task_event WHERE id = ? ${lock})`).join(' UNION ALL ') : `SELECT id FROM task_event WHERE id > ? AND id < ? ${lock}`;
      await this.sql.rows(text, ids.length ? ids : [from, to]);
      return false;
    } catch (err) {
      const e = err as { errno?: number; driverError?: { errno?: number } };
      const errno = e.errno ?? e.driverError?.errno ?? 0;
      if (HELD.has(errno)) return true;
      if (errno === SYNTAX && this.probeSyntax + 1 < GAP_LOCKS.length) {
        this.probeSyntax++;
        return this.probe({ from, to });
      }
      this.failed(err);
      return !this.unavailable;
    }
  }

  private failed(err: unknown): undefined {
    if (!refused(err)) return undefined;
    this.unavailable = true;
    this.logger.warn(
      `clusterEvents$: cannot tell open transactions (${(err as Error).message}); a gap in event ids is held for the grace period only, so the events of a transaction that commits later than that are skipped`,
    );
    return undefined;
  }
}

/** No NOWAIT (MySQL before 8, MariaDB before 10.3: a syntax error), access denied, or PostgreSQL's insufficient privilege. */
function refused(err: unknown): boolean {
  const e = err as { errno?: number; code?: string; driverError?: { errno?: number; code?: string } };
  const errno = e.errno ?? e.driverError?.errno;
  const code = e.code ?? e.driverError?.code;
  return errno === 1064 || errno === 1142 || errno === 1044 || code === '42501';
}
