import type { MigrationInterface, QueryRunner } from 'typeorm';
import { noPadBinaryCollation } from '../database/binary-key-columns';
import { dialectOf } from './dialect';

/** Creates `queue_rate_window`, the starts per window of the rate-limited task types, on MySQL/MariaDB, PostgreSQL or SQLite. @publicApi */
export class CreateQueueRateWindow1764750000000 implements MigrationInterface {
  name = 'CreateQueueRateWindow1764750000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner);
    if (dialect === 'mysql') {
      const collation = await noPadBinaryCollation((sql) => queryRunner.query(sql));
      await queryRunner.query(
        `CREATE TABLE \`queue_rate_window\` (\`task_type\` varchar(191) CHARACTER SET utf8mb4 COLLATE ${collation} NOT NULL, \`window_start\` bigint NOT NULL, \`used\` int NOT NULL, PRIMARY KEY (\`task_type\`)) ENGINE=InnoDB`,
      );
    } else if (dialect === 'postgres') {
      await queryRunner.query('CREATE TABLE "queue_rate_window" ("task_type" character varying(191) NOT NULL, "window_start" bigint NOT NULL, "used" integer NOT NULL, CONSTRAINT "pk_queue_rate_window" PRIMARY KEY ("task_type"))');
    } else {
      await queryRunner.query('CREATE TABLE "queue_rate_window" ("task_type" varchar(191) PRIMARY KEY NOT NULL, "window_start" bigint NOT NULL, "used" integer NOT NULL)');
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner) === 'mysql' ? '`' : '"';
    await queryRunner.query(`DROP TABLE ${q}queue_rate_window${q}`);
  }
}
