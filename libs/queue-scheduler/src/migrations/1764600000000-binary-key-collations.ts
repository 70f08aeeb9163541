import type { MigrationInterface, QueryRunner } from 'typeorm';
import { noPadBinaryCollation } from '../database/binary-key-columns';
import { dialectOf } from './dialect';

type KeyColumn = [name: string, type: string, nullability: 'NULL' | 'NOT NULL'];

/** The key columns as the earlier migrations created them: a migration keeps its own copy, later entity changes do not alter it. */
const KEY_COLUMNS: Record<string, KeyColumn[]> = {
  task_queue: [['task_id', 'varchar(191)', 'NOT NULL'], ['task_type', 'varchar(191)', 'NOT NULL'], ['scheduler_task_id', 'varchar(36)', 'NULL'], ['lease_owner', 'varchar(64)', 'NULL']],
  scheduler_task: [['task_id', 'varchar(36)', 'NOT NULL'], ['schedule_key', 'varchar(191)', 'NULL'], ['task_type', 'varchar(191)', 'NOT NULL']],
  queue_store: [['store_key', 'varchar(191)', 'NOT NULL']],
};

/** One ALTER per table (one rebuild each); a MODIFY must repeat the whole definition or it would drop NOT NULL. */
function statements(charset?: string): string[] {
  return Object.entries(KEY_COLUMNS).map(([table, columns]) => {
    const modify = columns.map(([name, type, nullability]) => `MODIFY \`${name}\` ${type}${charset ? ` ${charset}` : ''} ${nullability}`);
    return `ALTER TABLE \`${table}\` ${modify.join(', ')}`;
  });
}

/**
 * Makes ids, task types, store keys and schedule keys compare byte for byte on
 * MySQL/MariaDB (see binary-key-columns.ts): their columns get utf8mb4 with the
 * server's NO PAD binary collation. Nothing to do on PostgreSQL and SQLite,
 * which already compare them so. No stored value is lost: keys distinct before
 * stay distinct under the stricter comparison.
 * @publicApi
 */
export class BinaryKeyCollations1764600000000 implements MigrationInterface {
  name = 'BinaryKeyCollations1764600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    if (dialectOf(queryRunner) !== 'mysql') return;
    const collation = await noPadBinaryCollation((sql) => queryRunner.query(sql));
    for (const sql of statements(`CHARACTER SET utf8mb4 COLLATE ${collation}`)) await queryRunner.query(sql);
  }

  /** Back to the tables' default character set and collation, as the earlier migrations left them. */
  async down(queryRunner: QueryRunner): Promise<void> {
    if (dialectOf(queryRunner) !== 'mysql') return;
    for (const sql of statements()) await queryRunner.query(sql);
  }
}
