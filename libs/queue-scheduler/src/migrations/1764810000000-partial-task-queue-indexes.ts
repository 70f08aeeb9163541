import type { MigrationInterface, QueryRunner } from 'typeorm';
import { TASK_INDEX_WHERE } from '../entities/queued-task.entity';
import { dialectOf } from './dialect';

/** The three status indexes of `task_queue`: name, columns, predicate. */
const INDEXES: Array<[string, string, string]> = [
  ['idx_task_queue_claim', '"status", "priority", "run_at", "seq"', TASK_INDEX_WHERE.claim],
  ['idx_task_queue_lease', '"status", "lease_expires_at"', TASK_INDEX_WHERE.lease],
  ['idx_task_queue_finished', '"status", "completed_at"', TASK_INDEX_WHERE.finished],
];

/**
 * Makes `task_queue`'s status indexes partial on PostgreSQL and SQLite: each
 * holds the rows of its statuses only, so a claim and an outcome write one
 * index entry out and one in instead of three and three (see
 * TASK_INDEX_WHERE). MySQL/MariaDB have no partial index: nothing changes
 * there. On a large table the new indexes are built while the migration runs. @publicApi
 */
export class PartialTaskQueueIndexes1764810000000 implements MigrationInterface {
  name = 'PartialTaskQueueIndexes1764810000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    if (dialectOf(queryRunner) === 'mysql') return;
    for (const [name, columns, where] of INDEXES) {
      await queryRunner.query(`DROP INDEX "${name}"`);
      await queryRunner.query(`CREATE INDEX "${name}" ON "task_queue" (${columns}) WHERE ${where}`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    if (dialectOf(queryRunner) === 'mysql') return;
    for (const [name, columns] of INDEXES) {
      await queryRunner.query(`DROP INDEX "${name}"`);
      await queryRunner.query(`CREATE INDEX "${name}" ON "task_queue" (${columns})`);
    }
  }
}
