import type { Table } from 'typeorm';

/**
 * Why this patches TypeORM: MariaDB (10.2.7+) reports the default of a nullable
 * column without one as the text 'NULL' in information_schema.COLUMNS. TypeORM
 * reads it as "no default" only when the DataSource says `type: 'mariadb'`;
 * under `type: 'mysql'` (what most mysql2 users write, and it works otherwise)
 * it becomes the default "'NULL'", so every nullable column looks changed.
 * synchronize then rewrites them at every boot: it drops and re-adds
 * task_queue.result (a JSON column is LONGTEXT on MariaDB, a "type change"),
 * wiping every stored result, and drops and re-creates indexes, which crashes
 * when several instances boot together. Entity defaults cannot fix both
 * drivers, and the only code that runs before DataSource.initialize's
 * synchronize is module loading, so the library wraps the one method that
 * reads the column defaults, for that one case only: a column that is
 * nullable, whose default is exactly "'NULL'", on a DataSource not of type
 * 'mariadb' whose server is MariaDB. A real string default 'NULL' is reported
 * quoted by MariaDB ("''NULL''" here) and by MySQL as on any other server, so
 * it is left alone.
 */

const WRAPPED = Symbol.for('nestjs-queue-scheduler.mariadb-null-default');

interface LoadTablesHost {
  loadTables(this: MysqlRunnerLike, tableNames?: string[]): Promise<Table[]>;
}

interface MysqlRunnerLike {
  driver: object & { options: { type: string } };
  query(sql: string): Promise<Array<Record<string, unknown>>>;
}

/** Per driver (one per DataSource): is the server MariaDB? Asked once, only when a suspect default is seen. */
const serverIsMariaDb = new WeakMap<object, boolean>();

async function isMariaDb(runner: MysqlRunnerLike): Promise<boolean> {
  let known = serverIsMariaDb.get(runner.driver);
  if (known === undefined) {
    // driver.version has the suffix stripped ("10.11.9"), so the server is asked
    const rows = await runner.query('SELECT VERSION() AS version');
    known = /mariadb/i.test(String(rows[0]?.version ?? ''));
    serverIsMariaDb.set(runner.driver, known);
  }
  return known;
}

/** Wraps `loadTables` of MysqlQueryRunner's prototype; a second call (or a second copy of the library) does nothing. */
export function installMariaDbNullDefaultFix(prototype: LoadTablesHost): void {
  const original = prototype.loadTables as LoadTablesHost['loadTables'] & { [WRAPPED]?: true };
  if (typeof original !== 'function' || original[WRAPPED]) return;
  const wrapped = async function loadTables(this: MysqlRunnerLike, tableNames?: string[]): Promise<Table[]> {
    const tables = await original.call(this, tableNames);
    if (this.driver.options.type === 'mariadb') return tables;
    const suspects = tables.flatMap((table) => table.columns.filter((column) => column.isNullable && column.default === "'NULL'"));
    if (suspects.length === 0 || !(await isMariaDb(this))) return tables;
    for (const column of suspects) column.default = undefined;
    return tables;
  };
  Object.defineProperty(wrapped, WRAPPED, { value: true });
  prototype.loadTables = wrapped;
}

function mysqlQueryRunnerPrototype(): LoadTablesHost | undefined {
  try {
    // the package's exports map ("./*" → "./*.js") allows this path in typeorm 0.3 and 1.x; a
    // release that moves it loses only this fix, not the library
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const module = require('typeorm/driver/mysql/MysqlQueryRunner') as { MysqlQueryRunner?: { prototype: LoadTablesHost } };
    return module.MysqlQueryRunner?.prototype;
  } catch {
    return undefined;
  }
}

const prototype = mysqlQueryRunnerPrototype();
if (prototype) installMariaDbNullDefaultFix(prototype);
