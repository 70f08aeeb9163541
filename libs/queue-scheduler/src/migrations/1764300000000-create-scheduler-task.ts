import type { MigrationInterface, QueryRunner } from 'typeorm';
import { type Dialect, dialectOf } from './dialect';

const UP: Record<Dialect, string[]> = {
  mysql: [
    "CREATE TABLE `scheduler_task` (`task_id` varchar(36) NOT NULL, `name` varchar(255) NOT NULL, `schedule_key` varchar(191) NULL, `task_type` varchar(191) NOT NULL, `params` text NOT NULL, `schedule_type` varchar(16) NOT NULL, `interval_seconds` int NULL, `cron_expression` varchar(255) NULL, `timezone` varchar(64) NULL, `execute_at` bigint NULL, `last_run_at` bigint NULL, `next_run_at` bigint NULL, `run_count` int NOT NULL DEFAULT '0', `max_runs` int NOT NULL DEFAULT '0', `enabled` tinyint NOT NULL DEFAULT 1, `misfire_policy` varchar(16) NOT NULL DEFAULT 'fire_once', `priority` int NOT NULL DEFAULT '0', `description` text NULL, `version` int NOT NULL DEFAULT '0', `created_at` bigint NOT NULL, `updated_at` bigint NOT NULL, UNIQUE INDEX `uq_scheduler_task_schedule_key` (`schedule_key`), INDEX `idx_scheduler_task_next_run_at` (`next_run_at`), PRIMARY KEY (`task_id`)) ENGINE=InnoDB",
  ],
  postgres: [
    `CREATE TABLE "scheduler_task" ("task_id" character varying(36) NOT NULL, "name" character varying(255) NOT NULL, "schedule_key" character varying(191), "task_type" character varying(191) NOT NULL, "params" text NOT NULL, "schedule_type" character varying(16) NOT NULL, "interval_seconds" integer, "cron_expression" character varying(255), "timezone" character varying(64), "execute_at" bigint, "last_run_at" bigint, "next_run_at" bigint, "run_count" integer NOT NULL DEFAULT '0', "max_runs" integer NOT NULL DEFAULT '0', "enabled" boolean NOT NULL DEFAULT true, "misfire_policy" character varying(16) NOT NULL DEFAULT 'fire_once', "priority" integer NOT NULL DEFAULT '0', "description" text, "version" integer NOT NULL DEFAULT '0', "created_at" bigint NOT NULL, "updated_at" bigint NOT NULL, CONSTRAINT "pk_scheduler_task" PRIMARY KEY ("task_id"))`,
    `CREATE UNIQUE INDEX "uq_scheduler_task_schedule_key" ON "scheduler_task" ("schedule_key")`,
    `CREATE INDEX "idx_scheduler_task_next_run_at" ON "scheduler_task" ("next_run_at")`,
  ],
  sqlite: [
    `CREATE TABLE "scheduler_task" ("task_id" varchar(36) PRIMARY KEY NOT NULL, "name" varchar(255) NOT NULL, "schedule_key" varchar(191), "task_type" varchar(191) NOT NULL, "params" text NOT NULL, "schedule_type" varchar(16) NOT NULL, "interval_seconds" integer, "cron_expression" varchar(255), "timezone" varchar(64), "execute_at" bigint, "last_run_at" bigint, "next_run_at" bigint, "run_count" integer NOT NULL DEFAULT (0), "max_runs" integer NOT NULL DEFAULT (0), "enabled" boolean NOT NULL DEFAULT (1), "misfire_policy" varchar(16) NOT NULL DEFAULT ('fire_once'), "priority" integer NOT NULL DEFAULT (0), "description" text, "version" integer NOT NULL DEFAULT (0), "created_at" bigint NOT NULL, "updated_at" bigint NOT NULL)`,
    `CREATE UNIQUE INDEX "uq_scheduler_task_schedule_key" ON "scheduler_task" ("schedule_key")`,
    `CREATE INDEX "idx_scheduler_task_next_run_at" ON "scheduler_task" ("next_run_at")`,
  ],
};

/** Creates `scheduler_task` (schedules) on MySQL/MariaDB, PostgreSQL or SQLite. @publicApi */
export class CreateSchedulerTask1764300000000 implements MigrationInterface {
  name = 'CreateSchedulerTask1764300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const sql of UP[dialectOf(queryRunner)]) await queryRunner.query(sql);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(dialectOf(queryRunner) === 'mysql' ? 'DROP TABLE `scheduler_task`' : 'DROP TABLE "scheduler_task"');
  }
}
