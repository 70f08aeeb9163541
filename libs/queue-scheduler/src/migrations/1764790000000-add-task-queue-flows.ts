import type { MigrationInterface, QueryRunner } from 'typeorm';
import { noPadBinaryCollation } from '../database/binary-key-columns';
import { type Dialect, dialectOf } from './dialect';

/** `binary`: MySQL/MariaDB's NO PAD binary collation clause, as task_id has (parent_id holds one; see binary-key-columns.ts). */
const UP: Record<Dialect, (binary: string) => string[]> = {
  mysql: (binary) => [
    `ALTER TABLE \`task_queue\` ADD \`parent_id\` varchar(191) ${binary} NULL`,
    "ALTER TABLE `task_queue` ADD `pending_children` int NOT NULL DEFAULT '0'",
    'ALTER TABLE `task_queue` ADD `on_child_failure` varchar(16) NULL',
    'CREATE INDEX `idx_task_queue_parent` ON `task_queue` (`parent_id`)',
  ],
  postgres: () => [
    'ALTER TABLE "task_queue" ADD "parent_id" character varying(191)',
    'ALTER TABLE "task_queue" ADD "pending_children" integer NOT NULL DEFAULT 0',
    'ALTER TABLE "task_queue" ADD "on_child_failure" character varying(16)',
    'CREATE INDEX "idx_task_queue_parent" ON "task_queue" ("parent_id")',
  ],
  sqlite: () => [
    'ALTER TABLE "task_queue" ADD COLUMN "parent_id" varchar(191)',
    'ALTER TABLE "task_queue" ADD COLUMN "pending_children" integer NOT NULL DEFAULT (0)',
    'ALTER TABLE "task_queue" ADD COLUMN "on_child_failure" varchar(16)',
    'CREATE INDEX "idx_task_queue_parent" ON "task_queue" ("parent_id")',
  ],
};

/**
 * Adds what flows need to `task_queue`: `parent_id` (the task this one is a
 * child of, indexed to find a parent's children), `pending_children` (how
 * many children a `waiting` parent still waits for) and `on_child_failure`
 * (how the parent treats this child's failure), on MySQL/MariaDB,
 * PostgreSQL or SQLite.
 * @publicApi
 */
export class AddTaskQueueFlows1764790000000 implements MigrationInterface {
  name = 'AddTaskQueueFlows1764790000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner);
    const binary = dialect === 'mysql' ? `CHARACTER SET utf8mb4 COLLATE ${await noPadBinaryCollation((sql) => queryRunner.query(sql))}` : '';
    for (const statement of UP[dialect](binary)) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner);
    const q = dialect === 'mysql' ? '`' : '"';
    await queryRunner.query(dialect === 'mysql' ? 'DROP INDEX `idx_task_queue_parent` ON `task_queue`' : 'DROP INDEX "idx_task_queue_parent"');
    for (const column of ['on_child_failure', 'pending_children', 'parent_id']) await queryRunner.query(`ALTER TABLE ${q}task_queue${q} DROP COLUMN ${q}${column}${q}`);
  }
}
