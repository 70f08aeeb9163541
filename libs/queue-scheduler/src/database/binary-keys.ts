import { Inject, Injectable, type OnModuleInit, Optional } from '@nestjs/common';
import type { DataSource, QueryRunner } from 'typeorm';
import { InvalidOptionsError } from '../errors/errors';
import type { ResolvedOptions } from '../interfaces/options.interface';
import { RESOLVED_OPTIONS, SCHEDULER_DATA_SOURCE } from '../queue-scheduler.constants';
import { LibraryLogger } from '../queue-scheduler.logger';
import { BINARY_KEY_COLUMNS, isMysqlFamily, noPadBinaryCollation } from './binary-key-columns';

interface KeyColumn {
  table_name: string;
  column_name: string;
  column_type: string;
  is_nullable: string;
  charset: string | null;
  collation: string | null;
}

/** GET_LOCK names are server-wide (at most 64 characters): one per database, so apps on other databases do not wait. */
const LOCK = "LEFT(CONCAT('nestjs-queue-scheduler:keys:', DATABASE()), 64)";

/**
 * Stops start-up on MySQL/MariaDB when an id, type or key column would merge
 * values that differ in case, accents or trailing spaces (see
 * binary-key-columns.ts). `synchronize: true` creates those columns with the
 * database's default collation and TypeORM never compares collations, so
 * there the columns are converted instead; with migrations,
 * BinaryKeyCollations1764600000000 converts them. It runs in onModuleInit,
 * before the scheduler or a queue writes anything.
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
      const wrong = await wrongColumns(runner, collation);
      if (wrong.length === 0) return;
      if (!ds.options.synchronize) throw new InvalidOptionsError('dataSource', notBinaryMessage(wrong, collation));
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
      const wrong = await wrongColumns(runner, collation);
      const tables = new Map<string, KeyColumn[]>();
      for (const column of wrong) tables.set(column.table_name, [...(tables.get(column.table_name) ?? []), column]);
      for (const [table, columns] of tables) {
        // the definition read back from the server, so only the character set and collation change (key columns have no default)
        const modify = columns.map(
          (c) => `MODIFY \`${c.column_name}\` ${c.column_type} CHARACTER SET utf8mb4 COLLATE ${collation} ${c.is_nullable === 'YES' ? 'NULL' : 'NOT NULL'}`,
        );
        await runner.query(`ALTER TABLE \`${table}\` ${modify.join(', ')}`);
      }
      if (wrong.length > 0) {
        this.logger.log(`synchronize: ${wrong.map(columnLabel).join(', ')} converted to ${collation}, so ids, types and keys compare byte for byte`);
      }
    } finally {
      await runner.query(`SELECT RELEASE_LOCK(${LOCK}) AS released`);
    }
  }
}

/** Key columns of the library's tables in the current database that are not utf8mb4 with `collation`; a missing table is not this check's business. */
async function wrongColumns(runner: QueryRunner, collation: string): Promise<KeyColumn[]> {
  const tables = Object.keys(BINARY_KEY_COLUMNS);
  const rows = (await runner.query(
    `SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name, COLUMN_TYPE AS column_type, IS_NULLABLE AS is_nullable,
            CHARACTER_SET_NAME AS charset, COLLATION_NAME AS collation
       FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (${tables.map(() => '?').join(', ')})
      ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    tables,
  )) as KeyColumn[];
  return rows.filter((r) => BINARY_KEY_COLUMNS[r.table_name]?.includes(r.column_name) && (r.charset !== 'utf8mb4' || r.collation !== collation));
}

function columnLabel(column: KeyColumn): string {
  return `${column.table_name}.${column.column_name} (${column.collation ?? column.charset ?? 'no collation'})`;
}

function notBinaryMessage(wrong: KeyColumn[], collation: string): string {
  return (
    `nestjs-queue-scheduler needs ids, task types and keys compared byte for byte, but ${wrong.map(columnLabel).join(', ')} ` +
    `would store 'Invoice-42', 'invoice-42' and 'invoice-42 ' as one: they need CHARACTER SET utf8mb4 COLLATE ${collation}. ` +
    'Run QUEUE_SCHEDULER_MIGRATIONS (BinaryKeyCollations1764600000000 converts them), or start once with synchronize: true, which converts them.'
  );
}
