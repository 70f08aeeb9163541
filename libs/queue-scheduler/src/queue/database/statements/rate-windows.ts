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
 */
export function databasePermits(sql: Sql): PermitStore {
  return {
    async take(type: string, want: number, limit: RateLimit, windowStart: number): Promise<number> {
      for (let i = 0; i < TRIES; i++) {
        const [row] = await sql.rows<{ window_start: string | number; used: string | number }>(READ, [type]);
        if (!row) {
          await sql.affected(CREATE[sql.dialect], [type, windowStart]);
          continue;
        }
        const start = Number(row.window_start);
        // a row of a later window: another instance's clock is ahead; this one waits for it rather than count twice
        if (start > windowStart) return 0;
        const used = start === windowStart ? Number(row.used) : 0;
        const granted = Math.min(want, limit.max - used);
        if (granted <= 0) return 0;
        if ((await sql.affected(SPEND, [windowStart, used + granted, type, start, Number(row.used)])) === 1) return granted;
      }
      return 0;
    },
    async giveBack(type: string, n: number, _limit: RateLimit, windowStart: number): Promise<void> {
      await sql.affected(GIVE_BACK, [n, type, windowStart, n]);
    },
  };
}
