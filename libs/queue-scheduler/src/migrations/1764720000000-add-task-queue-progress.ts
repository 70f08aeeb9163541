import type { MigrationInterface, QueryRunner } from 'typeorm';
import { type Dialect, dialectOf } from './dialect';

const UP: Record<Dialect, string> = {
  mysql: 'ALTER TABLE `task_queue` ADD `progress` json NULL',
  postgres: 'ALTER TABLE "task_queue" ADD "progress" json',
  sqlite: 'ALTER TABLE "task_queue" ADD COLUMN "progress" json',
};

/** Adds `task_queue.progress`, the last `ctx.progress()` report of a task, on MySQL/MariaDB, PostgreSQL or SQLite. @publicApi */
export class AddTaskQueueProgress1764720000000 implements MigrationInterface {
  name = 'AddTaskQueueProgress1764720000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(UP[dialectOf(queryRunner)]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner) === 'mysql' ? '`' : '"';
    await queryRunner.query(`ALTER TABLE ${q}task_queue${q} DROP COLUMN ${q}progress${q}`);
  }
}
