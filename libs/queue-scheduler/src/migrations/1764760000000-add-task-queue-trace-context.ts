import type { MigrationInterface, QueryRunner } from 'typeorm';
import { noPadBinaryCollation } from '../database/binary-key-columns';
import { type Dialect, dialectOf } from './dialect';

/** `binary`: MySQL/MariaDB's NO PAD binary collation clause, as the id columns have (see binary-key-columns.ts). */
const UP: Record<Dialect, (binary: string) => string> = {
  mysql: (binary) => `ALTER TABLE \`task_queue\` ADD \`trace_context\` varchar(568) ${binary} NULL`,
  postgres: () => 'ALTER TABLE "task_queue" ADD "trace_context" character varying(568)',
  sqlite: () => 'ALTER TABLE "task_queue" ADD COLUMN "trace_context" varchar(568)',
};

/**
 * Adds `task_queue.trace_context`, the W3C trace context of a task's push
 * (`tracing: true`), on MySQL/MariaDB, PostgreSQL or SQLite.
 * @publicApi
 */
export class AddTaskQueueTraceContext1764760000000 implements MigrationInterface {
  name = 'AddTaskQueueTraceContext1764760000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner);
    const binary = dialect === 'mysql' ? `CHARACTER SET utf8mb4 COLLATE ${await noPadBinaryCollation((sql) => queryRunner.query(sql))}` : '';
    await queryRunner.query(UP[dialect](binary));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner) === 'mysql' ? '`' : '"';
    await queryRunner.query(`ALTER TABLE ${q}task_queue${q} DROP COLUMN ${q}trace_context${q}`);
  }
}
