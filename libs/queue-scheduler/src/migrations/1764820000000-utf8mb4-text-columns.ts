import type { MigrationInterface, QueryRunner } from 'typeorm';
import { libraryColumns, narrowTextColumns, utf8mb4Statements } from '../database/utf8mb4-columns';
import { dialectOf } from './dialect';

/**
 * Converts the text columns of the library's tables that are not utf8mb4 to
 * utf8mb4 on MySQL/MariaDB (see utf8mb4-columns.ts): the earlier migrations
 * created them in the database's default character set, latin1 on many
 * servers. Reads the columns back from the server, so it changes only the
 * ones that need it, and nothing on a database that defaults to utf8mb4.
 * Nothing to do on PostgreSQL and SQLite.
 * @publicApi
 */
export class Utf8mb4TextColumns1764820000000 implements MigrationInterface {
  name = 'Utf8mb4TextColumns1764820000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    if (dialectOf(queryRunner) !== 'mysql') return;
    const narrow = narrowTextColumns(await libraryColumns((sql, params) => queryRunner.query(sql, params)));
    for (const sql of utf8mb4Statements(narrow)) await queryRunner.query(sql);
  }

  /** Nothing: text stored since may not fit the narrower character set again, and a utf8mb4 column is what every later version expects. */
  async down(): Promise<void> {}
}
