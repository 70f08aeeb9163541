import type { MigrationInterface, QueryRunner } from 'typeorm';
import { type Dialect, dialectOf } from './dialect';

const UP: Record<Dialect, string> = {
  mysql: 'ALTER TABLE `scheduler_task` ADD `declared_hash` varchar(64) NULL',
  postgres: 'ALTER TABLE "scheduler_task" ADD "declared_hash" character varying(64)',
  sqlite: 'ALTER TABLE "scheduler_task" ADD COLUMN "declared_hash" varchar(64)',
};

/** Adds `scheduler_task.declared_hash`, the fingerprint of a `@Scheduled` declaration, on MySQL/MariaDB, PostgreSQL or SQLite. @publicApi */
export class AddSchedulerTaskDeclaredHash1764500000000 implements MigrationInterface {
  name = 'AddSchedulerTaskDeclaredHash1764500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(UP[dialectOf(queryRunner)]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner) === 'mysql' ? '`' : '"';
    await queryRunner.query(`ALTER TABLE ${q}scheduler_task${q} DROP COLUMN ${q}declared_hash${q}`);
  }
}
