import type { MigrationInterface, QueryRunner } from 'typeorm';
import { type Dialect, dialectOf } from './dialect';

const UP: Record<Dialect, string> = {
  mysql: 'ALTER TABLE `scheduler_task` ADD `flow` text NULL',
  postgres: 'ALTER TABLE "scheduler_task" ADD "flow" text',
  sqlite: 'ALTER TABLE "scheduler_task" ADD COLUMN "flow" text',
};

/**
 * Adds `scheduler_task.flow`, the children template of a flow schedule (JSON,
 * NULL for the rows already there: plain schedules), on MySQL/MariaDB,
 * PostgreSQL or SQLite. @publicApi
 */
export class AddSchedulerTaskFlow1764800000000 implements MigrationInterface {
  name = 'AddSchedulerTaskFlow1764800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(UP[dialectOf(queryRunner)]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner) === 'mysql' ? '`' : '"';
    await queryRunner.query(`ALTER TABLE ${q}scheduler_task${q} DROP COLUMN ${q}flow${q}`);
  }
}
