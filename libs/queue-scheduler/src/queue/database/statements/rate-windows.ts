import type { RateLimit } from '../../../interfaces/task-handler.interface';
import type { Dialect, Sql } from '../../../database/sql';
import type { PermitStore } from '../../rate-windows';

/** A type's first window: its row exists from then on; a row made meanwhile by another instance is the only conflict. */
const CREATE: Record<Dialect, string> = {
  mysql: 'INSERT INTO queue_rate_window (task_type, window_start, used) VALUES (?, ?, 0) ON DUPLICATE KEY UPDATE task_type = task_type',
  postgres: 'INSERT INTO queue_rate_window (task_type, window_start, used) VALUES (?, ?, 0) ON CONFLICT (task_type) DO NOTHING',
  sqlite: 'INSERT INTO queue_rate_window (task_type, window_start, used) VALUES (?, ?, 0) ON CONFLICT (task_type) DO NOTHING',
};

const READ = 'SELECT window_start, used FROM queue_rate_window WHERE task_type = ?';
/** Compare-and-set: only from the state just read, so two instances never both spend the same permits. */
const SPEND = 'UPDATE queue_rate_window SET window_start = ?, used = ? WHERE task_type = ? AND window_start = ? AND used = ?';
const GIVE_BACK = 'UPDATE queue_rate_window SET used = used - ? WHERE task_type = ? AND window_start = ? AND used >= ?';

/** Instances racing for one type's row: each lost compare-and-set reads again; past this many the claim goes without. */
const TRIES = 20;

/**
 * The starts of each rate-limited type per window on the database backend: one
 * row per type in `queue_rate_window`, spent with a compare-and-set (no row
 * lock held across statements, the same on SQLite, MySQL/MariaDB and PostgreSQL).
 *
 * The row as this instance last left it is kept, and a take tries its
 * compare-and-set on that state first: a claim of a limited type with nothing
 * due took permits and gave them all back, three statements beside the claim,
 * and with the state kept the read goes (two). A state another instance has
 * changed only fails that compare-and-set, and the row is read again; a
 * refusal (window full, or a later window) is only ever decided on a fresh read.
 */
export function databasePermits(sql: Sql): PermitStore {
  const known = new Map<string, { start: number; used: number }>();
  return {
    async take(type: string, want: number, limit: RateLimit, windowStart: number): Promise<number> {
      for (let i = 0; i < TRIES; i++) {
        let row = known.get(type);
        known.delete(type);
        const fresh = row === undefined;
        if (!row) {
          const [read] = await sql.rows<{ window_start: string | number; used: string | number }>(READ, [type]);
          if (!read) {
            await sql.affected(CREATE[sql.dialect], [type, windowStart]);
            continue;
          }
          row = { start: Number(read.window_start), used: Number(read.used) };
        }
        // a row of a later window: another instance's clock is ahead; this one waits for it rather than count twice
        if (row.start > windowStart) {
          if (fresh) return 0;
          continue;
        }
        const used = row.start === windowStart ? row.used : 0;
        const granted = Math.min(want, limit.max - used);
        if (granted <= 0) {
          if (fresh) return 0;
          continue;
        }
        if ((await sql.affected(SPEND, [windowStart, used + granted, type, row.start, row.used])) === 1) {
          known.set(type, { start: windowStart, used: used + granted });
          return granted;
        }
      }
      return 0;
    },
    async giveBack(type: string, n: number, _limit: RateLimit, windowStart: number): Promise<void> {
      const given = await sql.affected(GIVE_BACK, [n, type, windowStart, n]);
      const row = known.get(type);
      if (given === 1 && row?.start === windowStart && row.used >= n) row.used -= n;
      else known.delete(type);
    },
  };
}
