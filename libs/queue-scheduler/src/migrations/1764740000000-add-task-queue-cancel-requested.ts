import type { MigrationInterface, QueryRunner } from 'typeorm';
import { type Dialect, dialectOf } from './dialect';

const UP: Record<Dialect, string> = {
  mysql: "ALTER TABLE `task_queue` ADD `cancel_requested` int NOT NULL DEFAULT '0'",
  postgres: 'ALTER TABLE "task_queue" ADD "cancel_requested" integer NOT NULL DEFAULT \'0\'',
  sqlite: 'ALTER TABLE "task_queue" ADD COLUMN "cancel_requested" integer NOT NULL DEFAULT (0)',
};

/** Adds `task_queue.cancel_requested`, set by `cancelTask` on a running task for the instance that runs it. @publicApi */
export class AddTaskQueueCancelRequested1764740000000 implements MigrationInterface {
  name = 'AddTaskQueueCancelRequested1764740000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(UP[dialectOf(queryRunner)]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner) === 'mysql' ? '`' : '"';
    await queryRunner.query(`ALTER TABLE ${q}task_queue${q} DROP COLUMN ${q}cancel_requested${q}`);
  }
}
