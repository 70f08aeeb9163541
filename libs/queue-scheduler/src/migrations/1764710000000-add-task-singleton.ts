import type { MigrationInterface, QueryRunner } from 'typeorm';
import { noPadBinaryCollation } from '../database/binary-key-columns';
import { type Dialect, dialectOf } from './dialect';

/** `binary`: MySQL/MariaDB's NO PAD binary collation clause, so keys compare byte for byte as ids do (see binary-key-columns.ts). */
const UP: Record<Dialect, (binary: string) => string[]> = {
  mysql: (binary) => [
    `CREATE TABLE \`task_singleton\` (\`singleton_key\` varchar(191) ${binary} NOT NULL, \`task_id\` varchar(191) ${binary} NOT NULL, \`accepted_at\` bigint NOT NULL, PRIMARY KEY (\`singleton_key\`)) ENGINE=InnoDB`,
    `ALTER TABLE \`task_queue\` ADD \`singleton_key\` varchar(191) ${binary} NULL`,
  ],
  postgres: () => [
    'CREATE TABLE "task_singleton" ("singleton_key" character varying(191) NOT NULL, "task_id" character varying(191) NOT NULL, "accepted_at" bigint NOT NULL, CONSTRAINT "pk_task_singleton" PRIMARY KEY ("singleton_key"))',
    'ALTER TABLE "task_queue" ADD "singleton_key" character varying(191)',
  ],
  sqlite: () => [
    'CREATE TABLE "task_singleton" ("singleton_key" varchar(191) PRIMARY KEY NOT NULL, "task_id" varchar(191) NOT NULL, "accepted_at" bigint NOT NULL)',
    'ALTER TABLE "task_queue" ADD COLUMN "singleton_key" varchar(191)',
  ],
};

/**
 * Adds singleton keys (pushTask's `singletonKey`, `debounceMs`, `throttleMs`)
 * on MySQL/MariaDB, PostgreSQL or SQLite: `task_singleton`, one row per key
 * naming the task that holds it, and `task_queue.singleton_key`, the key a
 * task was pushed with.
 * @publicApi
 */
export class AddTaskSingleton1764710000000 implements MigrationInterface {
  name = 'AddTaskSingleton1764710000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner);
    const binary = dialect === 'mysql' ? `CHARACTER SET utf8mb4 COLLATE ${await noPadBinaryCollation((sql) => queryRunner.query(sql))}` : '';
    for (const sql of UP[dialect](binary)) await queryRunner.query(sql);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner) === 'mysql' ? '`' : '"';
    await queryRunner.query(`ALTER TABLE ${q}task_queue${q} DROP COLUMN ${q}singleton_key${q}`);
    await queryRunner.query(`DROP TABLE ${q}task_singleton${q}`);
  }
}
