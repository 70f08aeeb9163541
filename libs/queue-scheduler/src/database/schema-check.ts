import { Inject, Injectable, type OnModuleInit, Optional } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { QUEUE_SCHEDULER_ENTITIES } from '../entities';
import { SchemaNotReadyError } from '../errors/errors';
import type { ResolvedOptions } from '../interfaces/options.interface';
import { RESOLVED_OPTIONS, SCHEDULER_DATA_SOURCE } from '../queue-scheduler.constants';
import { BinaryKeysCheck } from './binary-keys';
import { driverErrorOf } from './sql';

/** The drivers' codes for a table or a column that is not there: MySQL/MariaDB (mysql2), PostgreSQL (pg). */
const MISSING_CODES = new Set(['ER_NO_SUCH_TABLE', 'ER_BAD_FIELD_ERROR', '42P01', '42703']);
/** SQLite has one code for every error: its message tells. */
const SQLITE_MISSING = /no such (table|column)|has no column named/i;

/** Data sources whose tables were found complete (a failed check is not kept: the next start looks again). */
const ready = new WeakMap<DataSource, Promise<void>>();

/** The missing table or column the driver reported in `err`, or undefined for any other failure. */
function missingSchemaIn(err: unknown): string | undefined {
  const { code, message } = driverErrorOf(err);
  return MISSING_CODES.has(code) || SQLITE_MISSING.test(message) ? message : undefined;
}

/**
 * Reads one row of each of the library's tables, every column it maps, once
 * per DataSource. A database whose migrations have not run then stops
 * start-up with SchemaNotReadyError naming every table to fix and the way to
 * fix it, rather than with the driver's "no such table" for the first table
 * some service happened to read, or later, at the first push or claim that
 * touches a column a later migration adds. Other failures (a connection
 * refused) are thrown as they are.
 */
export function checkSchema(dataSource: DataSource): Promise<void> {
  let check = ready.get(dataSource);
  if (!check) {
    check = readEachTable(dataSource);
    ready.set(dataSource, check);
    check.catch(() => ready.delete(dataSource));
  }
  return check;
}

async function readEachTable(dataSource: DataSource): Promise<void> {
  const tables: string[] = [];
  const details: string[] = [];
  for (const entity of QUEUE_SCHEDULER_ENTITIES) {
    const repo = dataSource.getRepository(entity);
    try {
      await repo.find({ take: 1 });
    } catch (err) {
      const missing = missingSchemaIn(err);
      if (missing === undefined) throw err;
      tables.push(repo.metadata.tableName);
      details.push(missing);
    }
  }
  if (tables.length) throw new SchemaNotReadyError(tables, details);
}

/**
 * The check at module init, whatever the backend and whether the scheduler
 * runs: the database backend would otherwise first read its tables at a push
 * or a claim. The scheduler awaits the same check before it starts.
 */
@Injectable()
export class SchemaCheck implements OnModuleInit {
  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    private readonly binaryKeys: BinaryKeysCheck,
    @Optional() @Inject(SCHEDULER_DATA_SOURCE) private readonly dataSource?: DataSource,
  ) {}

  async onModuleInit(): Promise<void> {
    // after the key columns' check (and, under synchronize, their conversion): Nest runs a module's init hooks
    // concurrently, and reading the tables beside it held a second pooled connection open for the app's lifetime
    await this.binaryKeys.onModuleInit();
    if (this.dataSource && this.options.autoStart) await checkSchema(this.dataSource);
  }
}
