/**
 * Ids, task types, store keys and schedule keys must compare byte for byte:
 * under MySQL/MariaDB's default collations 'Invoice-42' = 'invoice-42' =
 * 'invoice-42 ', and utf8mb4_general_ci weighs every emoji alike, so distinct
 * ids would meet on one row. utf8mb4_bin is not enough either: it is PAD SPACE,
 * so trailing spaces still do not count. PostgreSQL (deterministic collations)
 * and SQLite (BINARY) already compare these columns byte for byte.
 */

/** table → its key columns, which need a NO PAD binary collation on MySQL/MariaDB. */
export const BINARY_KEY_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  // trace_context is no key, but holds ASCII ids (of a trace and a span): the ids' collation too
  task_queue: ['task_id', 'task_type', 'scheduler_task_id', 'lease_owner', 'singleton_key', 'trace_context', 'parent_id'],
  task_singleton: ['singleton_key', 'task_id'],
  scheduler_task: ['task_id', 'schedule_key', 'task_type'],
  queue_store: ['store_key'],
  queue_paused_type: ['task_type'],
  queue_rate_window: ['task_type'],
  task_event: ['task_id', 'task_type'],
};

/** The DataSource types that reach a MySQL or MariaDB server. */
export function isMysqlFamily(type: string): boolean {
  return type === 'mysql' || type === 'mariadb' || type === 'aurora-mysql';
}

/**
 * The utf8mb4 NO PAD binary collation of the server behind `query`: the name
 * differs between MariaDB (10.2+) and MySQL (8.0.17+), and a DataSource of type
 * 'mysql' is often connected to MariaDB, so the server's version decides.
 */
export async function noPadBinaryCollation(query: (sql: string) => Promise<Array<Record<string, unknown>>>): Promise<string> {
  const rows = await query('SELECT VERSION() AS version');
  return /mariadb/i.test(String(rows[0]?.version ?? '')) ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin';
}
