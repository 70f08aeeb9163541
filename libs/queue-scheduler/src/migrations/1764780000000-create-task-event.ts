import type { MigrationInterface, QueryRunner } from 'typeorm';
import { noPadBinaryCollation } from '../database/binary-key-columns';
import { dialectOf } from './dialect';

/** Creates `task_event`, the log `clusterEvents$` reads (written only with `queue.clusterEvents` on), on MySQL/MariaDB, PostgreSQL or SQLite. @publicApi */
export class CreateTaskEvent1764780000000 implements MigrationInterface {
  name = 'CreateTaskEvent1764780000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner);
    if (dialect === 'mysql') {
      const collation = await noPadBinaryCollation((sql) => queryRunner.query(sql));
      const key = `varchar(191) CHARACTER SET utf8mb4 COLLATE ${collation} NOT NULL`;
      await queryRunner.query(
        `CREATE TABLE \`task_event\` (\`id\` bigint NOT NULL AUTO_INCREMENT, \`task_id\` ${key}, \`task_type\` ${key}, \`kind\` varchar(16) NOT NULL, \`attempt\` int NOT NULL, \`recorded_at\` bigint NOT NULL, \`error\` text NULL, \`duration_ms\` int NULL, PRIMARY KEY (\`id\`)) ENGINE=InnoDB`,
      );
    } else if (dialect === 'postgres') {
      await queryRunner.query(
        'CREATE TABLE "task_event" ("id" BIGSERIAL NOT NULL, "task_id" character varying(191) NOT NULL, "task_type" character varying(191) NOT NULL, "kind" character varying(16) NOT NULL, "attempt" integer NOT NULL, "recorded_at" bigint NOT NULL, "error" text, "duration_ms" integer, CONSTRAINT "pk_task_event" PRIMARY KEY ("id"))',
      );
    } else {
      await queryRunner.query(
        'CREATE TABLE "task_event" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "task_id" varchar(191) NOT NULL, "task_type" varchar(191) NOT NULL, "kind" varchar(16) NOT NULL, "attempt" integer NOT NULL, "recorded_at" bigint NOT NULL, "error" text, "duration_ms" integer)',
      );
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner) === 'mysql' ? '`' : '"';
    await queryRunner.query(`DROP TABLE ${q}task_event${q}`);
  }
}
