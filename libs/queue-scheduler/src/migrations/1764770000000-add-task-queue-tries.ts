import type { MigrationInterface, QueryRunner } from 'typeorm';
import { type Dialect, dialectOf } from './dialect';

const UP: Record<Dialect, string[]> = {
  mysql: ['ALTER TABLE `task_queue` ADD `error_stack` text NULL', 'ALTER TABLE `task_queue` ADD `tries` json NULL'],
  postgres: ['ALTER TABLE "task_queue" ADD "error_stack" text', 'ALTER TABLE "task_queue" ADD "tries" json'],
  sqlite: ['ALTER TABLE "task_queue" ADD COLUMN "error_stack" text', 'ALTER TABLE "task_queue" ADD COLUMN "tries" json'],
};

/**
 * Adds `task_queue.error_stack` (the stack of the failure `error_message`
 * tells) and `task_queue.tries` (the tries that failed or were lost before
 * the current one, a JSON array), on MySQL/MariaDB, PostgreSQL or SQLite.
 * @publicApi
 */
export class AddTaskQueueTries1764770000000 implements MigrationInterface {
  name = 'AddTaskQueueTries1764770000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const statement of UP[dialectOf(queryRunner)]) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner) === 'mysql' ? '`' : '"';
    for (const column of ['tries', 'error_stack']) await queryRunner.query(`ALTER TABLE ${q}task_queue${q} DROP COLUMN ${q}${column}${q}`);
  }
}
