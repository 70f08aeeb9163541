/**
 * A named statement of the database backend: its SQL, with `?` placeholders
 * on every dialect (see `Sql`), and the values for them in order. The text of
 * every statement the backend sends lives in this folder, one file per
 * operation, so the services show only which statements run, in which
 * transaction and in which order.
 */
export interface Statement {
  readonly text: string;
  readonly params: unknown[];
}

/** The statuses a task ends in: retention purges them, and a push of a finished id queues it anew. */
export { FINISHED } from '../../../entities/queued-task.entity';

/** Rows per INSERT of a bulk push: SQLite binds at most 32,766 values in one statement (a row takes up to 12). */
export const ROWS_PER_INSERT = 1000;

/**
 * MySQL/MariaDB: characters of params JSON per INSERT. mysql2 sends a statement as one packet, which
 * max_allowed_packet bounds (16 MB by default on MariaDB): a character is at most 3 bytes as UTF-8, and the
 * escaping of the statement's text at most doubles it.
 */
export const JSON_CHARS_PER_INSERT = 2 << 20;

/**
 * Where each INSERT of `count` rows ends: at most `rows` rows each and, given the rows' JSON lengths, at most
 * JSON_CHARS_PER_INSERT characters of it, unless one row alone has more.
 */
export function insertEnds(count: number, rows: number, jsonLengths?: readonly number[]): number[] {
  const ends: number[] = [];
  let from = 0;
  let chars = 0;
  for (let i = 0; i < count; i++) {
    const length = jsonLengths?.[i] ?? 0;
    if (i > from && (i - from >= rows || chars + length > JSON_CHARS_PER_INSERT)) {
      ends.push(i);
      from = i;
      chars = 0;
    }
    chars += length;
  }
  ends.push(count);
  return ends;
}
