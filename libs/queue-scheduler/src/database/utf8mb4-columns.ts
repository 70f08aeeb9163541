import { BINARY_KEY_COLUMNS } from './binary-key-columns';

/**
 * Every text column of the library's tables must hold any Unicode text on
 * MySQL/MariaDB: a handler's error message, a schedule's name, params and
 * results. The migrations and `synchronize` create the columns other than the
 * keys (see binary-key-columns.ts) in the database's default character set,
 * and on a database that defaults to latin1 (MariaDB's built-in default before
 * 11.6) a write of '下载失败 😀' fails with "Incorrect string value": an
 * outcome that cannot be written leaves its task to the lease, and it runs
 * again. These columns are converted to utf8mb4, keeping each one's type,
 * nullability and default.
 */

/** A column of the library's tables as information_schema.COLUMNS describes it. */
export interface SchemaColumn {
  table_name: string;
  column_name: string;
  column_type: string;
  is_nullable: string;
  column_default: string | null;
  charset: string | null;
  collation: string | null;
}

export const LIBRARY_TABLES = Object.keys(BINARY_KEY_COLUMNS);

/** The columns of the library's tables in the current database, in table order; a table that is missing has none. */
export async function libraryColumns(query: (sql: string, params: unknown[]) => Promise<unknown>): Promise<SchemaColumn[]> {
  return (await query(
    `SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name, COLUMN_TYPE AS column_type, IS_NULLABLE AS is_nullable,
            COLUMN_DEFAULT AS column_default, CHARACTER_SET_NAME AS charset, COLLATION_NAME AS collation
       FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (${LIBRARY_TABLES.map(() => '?').join(', ')})
      ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    LIBRARY_TABLES,
  )) as SchemaColumn[];
}

/** Text columns other than the keys (binary-keys.ts converts those) whose character set is not utf8mb4. */
export function narrowTextColumns(columns: SchemaColumn[]): SchemaColumn[] {
  return columns.filter((c) => c.charset !== null && c.charset !== 'utf8mb4' && !BINARY_KEY_COLUMNS[c.table_name]?.includes(c.column_name));
}

/**
 * One ALTER per table (one rebuild each) giving `columns` utf8mb4, with `collation` when given (the key columns') or the
 * character set's default; a MODIFY must repeat the whole definition or it would drop NOT NULL and the default.
 */
export function utf8mb4Statements(columns: SchemaColumn[], collation?: string): string[] {
  const tables = new Map<string, SchemaColumn[]>();
  for (const column of columns) tables.set(column.table_name, [...(tables.get(column.table_name) ?? []), column]);
  return [...tables].map(([table, cs]) => {
    const modify = cs.map((c) => `MODIFY \`${c.column_name}\` ${c.column_type} CHARACTER SET utf8mb4${collation ? ` COLLATE ${collation}` : ''} ${c.is_nullable === 'YES' ? 'NULL' : 'NOT NULL'}${defaultClause(c.column_default)}`);
    return `ALTER TABLE \`${table}\` ${modify.join(', ')}`;
  });
}

/** MariaDB (10.2.7+) reports a text default quoted and no default as 'NULL'; MySQL reports the bare text and SQL NULL. */
function defaultClause(value: string | null): string {
  if (value === null || value === 'NULL') return '';
  const literal = value.startsWith("'") ? value : `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  return ` DEFAULT ${literal}`;
}

export function textColumnLabel(column: SchemaColumn): string {
  return `${column.table_name}.${column.column_name} (${column.charset})`;
}
