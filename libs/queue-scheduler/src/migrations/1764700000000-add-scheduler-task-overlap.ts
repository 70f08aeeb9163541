import type { MigrationInterface, QueryRunner } from 'typeorm';
import { type Dialect, dialectOf } from './dialect';

const UP: Record<Dialect, string> = {
  mysql: "ALTER TABLE `scheduler_task` ADD `overlap` varchar(8) NOT NULL DEFAULT 'allow'",
  postgres: 'ALTER TABLE "scheduler_task" ADD "overlap" character varying(8) NOT NULL DEFAULT \'allow\'',
  sqlite: 'ALTER TABLE "scheduler_task" ADD COLUMN "overlap" varchar(8) NOT NULL DEFAULT (\'allow\')',
};

/**
 * Adds `scheduler_task.overlap` (whether a schedule's runs may overlap), 'allow' for the rows already there, on
 * MySQL/MariaDB, PostgreSQL or SQLite. A schedule's unfinished runs are found through the existing
 * `uq_task_queue_occurrence` (scheduler_task_id, scheduled_at) index, so no index is added.
 * @publicApi
 */
export class AddSchedulerTaskOverlap1764700000000 implements MigrationInterface {
  name = 'AddSchedulerTaskOverlap1764700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(UP[dialectOf(queryRunner)]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner) === 'mysql' ? '`' : '"';
    await queryRunner.query(`ALTER TABLE ${q}scheduler_task${q} DROP COLUMN ${q}overlap${q}`);
  }
}
