import { Inject, Injectable, type OnModuleInit, Optional } from '@nestjs/common';
import type { DataSource, QueryRunner } from 'typeorm';
import { InvalidOptionsError } from '../errors/errors';
import type { ResolvedOptions } from '../interfaces/options.interface';
import { RESOLVED_OPTIONS, SCHEDULER_DATA_SOURCE } from '../queue-scheduler.constants';
import { LibraryLogger } from '../queue-scheduler.logger';
import { BINARY_KEY_COLUMNS, isMysqlFamily, noPadBinaryCollation } from './binary-key-columns';
import { LIBRARY_TABLES, libraryColumns, narrowTextColumns, type SchemaColumn, textColumnLabel, utf8mb4Statements } from './utf8mb4-columns';

/** GET_LOCK names are server-wide (at most 64 characters): one per database, so apps on other databases do not wait. */
const LOCK = "LEFT(CONCAT('nestjs-queue-scheduler:keys:', DATABASE()), 64)";

/**
 * Stops start-up on MySQL/MariaDB when an id, type or key column would merge
 * values that differ in case, accents or trailing spaces (see
 * binary-key-columns.ts), or when a text column could not hold any Unicode
 * text (see utf8mb4-columns.ts). `synchronize: true` creates the columns in
 * the database's defaults and TypeORM never compares collations or character
 * sets, so there the columns are converted instead; with migrations,
 * BinaryKeyCollations1764600000000 and Utf8mb4TextColumns1764820000000
 * convert them. A schema missing some of its tables is left to SchemaCheck,
 * whose SchemaNotReadyError names them. It runs in onModuleInit, before the
 * scheduler or a queue writes anything.
 */
@Injectable()
export class BinaryKeysCheck implements OnModuleInit {
  private readonly logger: LibraryLogger;

  constructor(
    @Inject(RESOLVED_OPTIONS) options: ResolvedOptions,
    @Optional() @Inject(SCHEDULER_DATA_SOURCE) private readonly dataSource?: DataSource,
  ) {
    this.logger = new LibraryLogger(BinaryKeysCheck.name, options.logLevel);
  }

  private checked?: Promise<void>;

  /** Once per instance: SchemaCheck awaits the same promise, so Nest's concurrent init hooks do not take a second connection. */
  onModuleInit(): Promise<void> {
    return (this.checked ??= this.check());
  }

  private async check(): Promise<void> {
    const ds = this.dataSource;
    if (!ds || !isMysqlFamily(ds.options.type)) return;
    // one connection for every statement: GET_LOCK belongs to the connection that took it
    const runner = ds.createQueryRunner();
    try {
      const collation = await noPadBinaryCollation((sql) => runner.query(sql));
      const columns = await libraryColumns((sql, params) => runner.query(sql, params));
      const wrong = wrongKeyColumns(columns, collation);
      const narrow = narrowTextColumns(columns);
      if (wrong.length === 0 && narrow.length === 0) return;
      if (!ds.options.synchronize) {
        // the migrations not run yet (tables missing): SchemaNotReadyError says so, and the same fix converts these
        if (new Set(columns.map((c) => c.table_name)).size < LIBRARY_TABLES.length) return;
        throw new InvalidOptionsError('dataSource', notConvertedMessage(wrong, narrow, collation));
      }
      await this.convert(runner, collation);
    } finally {
      await runner.release();
    }
  }

  /**
   * Instances booting together take turns on a named lock, and each looks
   * again once it holds it: the first converts, the others find nothing left.
   */
  private async convert(runner: QueryRunner, collation: string): Promise<void> {
    // a timeout (0) is no reason to stop: ALTER TABLE waits on its table's metadata lock anyway, and MODIFY is idempotent
    await runner.query(`SELECT GET_LOCK(${LOCK}, 60) AS got`);
    try {
      const columns = await libraryColumns((sql, params) => runner.query(sql, params));
      const wrong = wrongKeyColumns(columns, collation);
      // the definitions read back from the server, so only the character set and collation change
      for (const sql of utf8mb4Statements(wrong, collation)) await runner.query(sql);
      if (wrong.length > 0) {
        this.logger.log(`synchronize: ${wrong.map(columnLabel).join(', ')} converted to ${collation}, so ids, types and keys compare byte for byte`);
      }
      const narrow = narrowTextColumns(columns);
      for (const sql of utf8mb4Statements(narrow)) await runner.query(sql);
      if (narrow.length > 0) {
        this.logger.log(`synchronize: ${narrow.map(textColumnLabel).join(', ')} converted to utf8mb4, so they hold any Unicode text`);
      }
    } finally {
      await runner.query(`SELECT RELEASE_LOCK(${LOCK}) AS released`);
    }
  }
}

/** Key columns of the library's tables that are not utf8mb4 with `collation`. */
function wrongKeyColumns(columns: SchemaColumn[], collation: string): SchemaColumn[] {
  return columns.filter((r) => BINARY_KEY_COLUMNS[r.table_name]?.includes(r.column_name) && (r.charset !== 'utf8mb4' || r.collation !== collation));
}

function columnLabel(column: SchemaColumn): string {
  return `${column.table_name}.${column.column_name} (${column.collation ?? column.charset ?? 'no collation'})`;
}

function notConvertedMessage(wrong: SchemaColumn[], narrow: SchemaColumn[], collation: string): string {
  const keys =
    wrong.length === 0
      ? ''
      : `ids, task types and keys compared byte for byte, but ${wrong.map(columnLabel).join(', ')} ` +
        `would store 'Invoice-42', 'invoice-42' and 'invoice-42 ' as one: they need CHARACTER SET utf8mb4 COLLATE ${collation}`;
  const text =
    narrow.length === 0
      ? ''
      : `text columns that hold any Unicode text, but ${narrow.map(textColumnLabel).join(', ')} would refuse '下载失败 😀' ` +
        '(a handler\'s error, a schedule\'s name): they need CHARACTER SET utf8mb4';
  return (
    `nestjs-queue-scheduler needs ${[keys, text].filter(Boolean).join('; and ')}. ` +
    'Run QUEUE_SCHEDULER_MIGRATIONS (BinaryKeyCollations1764600000000 and Utf8mb4TextColumns1764820000000 convert them), ' +
    'or start once with synchronize: true, which converts them.'
  );
}
