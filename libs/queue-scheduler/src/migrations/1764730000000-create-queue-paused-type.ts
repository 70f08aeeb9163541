import type { MigrationInterface, QueryRunner } from 'typeorm';
import { noPadBinaryCollation } from '../database/binary-key-columns';
import { dialectOf } from './dialect';

/**
 * Creates `queue_paused_type`, the task types `pauseType` stopped, on
 * MySQL/MariaDB (the key byte for byte, as BinaryKeyCollations1764600000000
 * made the others), PostgreSQL or SQLite. @publicApi
 */
export class CreateQueuePausedType1764730000000 implements MigrationInterface {
  name = 'CreateQueuePausedType1764730000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner);
    if (dialect === 'mysql') {
      const collation = await noPadBinaryCollation((sql) => queryRunner.query(sql));
      await queryRunner.query(
        `CREATE TABLE \`queue_paused_type\` (\`task_type\` varchar(191) CHARACTER SET utf8mb4 COLLATE ${collation} NOT NULL, \`paused_at\` bigint NOT NULL, PRIMARY KEY (\`task_type\`)) ENGINE=InnoDB`,
      );
    } else if (dialect === 'postgres') {
      await queryRunner.query('CREATE TABLE "queue_paused_type" ("task_type" character varying(191) NOT NULL, "paused_at" bigint NOT NULL, CONSTRAINT "pk_queue_paused_type" PRIMARY KEY ("task_type"))');
    } else {
      await queryRunner.query('CREATE TABLE "queue_paused_type" ("task_type" varchar(191) PRIMARY KEY NOT NULL, "paused_at" bigint NOT NULL)');
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner) === 'mysql' ? '`' : '"';
    await queryRunner.query(`DROP TABLE ${q}queue_paused_type${q}`);
  }
}
