import type { MigrationInterface, QueryRunner } from 'typeorm';
import { type Dialect, dialectOf } from './dialect';

const UP: Record<Dialect, string[]> = {
  mysql: [
    "CREATE TABLE `task_queue` (`task_id` varchar(191) NOT NULL, `seq` bigint NOT NULL, `task_type` varchar(191) NOT NULL, `params` json NOT NULL, `status` varchar(16) NOT NULL, `priority` int NOT NULL DEFAULT '0', `run_at` bigint NOT NULL, `attempts` int NOT NULL DEFAULT '0', `retry_count` int NOT NULL DEFAULT '0', `max_retries` int NULL, `scheduler_task_id` varchar(36) NULL, `scheduled_at` bigint NULL, `lease_owner` varchar(64) NULL, `lease_expires_at` bigint NULL, `error_message` text NULL, `result` json NULL, `created_at` bigint NOT NULL, `started_at` bigint NULL, `completed_at` bigint NULL, UNIQUE INDEX `uq_task_queue_occurrence` (`scheduler_task_id`, `scheduled_at`), INDEX `idx_task_queue_seq` (`seq`), INDEX `idx_task_queue_finished` (`status`, `completed_at`), INDEX `idx_task_queue_lease` (`status`, `lease_expires_at`), INDEX `idx_task_queue_claim` (`status`, `priority`, `run_at`, `seq`), PRIMARY KEY (`task_id`)) ENGINE=InnoDB",
    "CREATE TABLE `queue_store` (`store_key` varchar(191) NOT NULL, `value` json NOT NULL, `expires_at` bigint NULL, `updated_at` bigint NOT NULL, INDEX `idx_queue_store_expires_at` (`expires_at`), PRIMARY KEY (`store_key`)) ENGINE=InnoDB",
  ],
  postgres: [
    "CREATE TABLE \"task_queue\" (\"task_id\" character varying(191) NOT NULL, \"seq\" bigint NOT NULL, \"task_type\" character varying(191) NOT NULL, \"params\" json NOT NULL, \"status\" character varying(16) NOT NULL, \"priority\" integer NOT NULL DEFAULT '0', \"run_at\" bigint NOT NULL, \"attempts\" integer NOT NULL DEFAULT '0', \"retry_count\" integer NOT NULL DEFAULT '0', \"max_retries\" integer, \"scheduler_task_id\" character varying(36), \"scheduled_at\" bigint, \"lease_owner\" character varying(64), \"lease_expires_at\" bigint, \"error_message\" text, \"result\" json, \"created_at\" bigint NOT NULL, \"started_at\" bigint, \"completed_at\" bigint, CONSTRAINT \"pk_task_queue\" PRIMARY KEY (\"task_id\"))",
    "CREATE UNIQUE INDEX \"uq_task_queue_occurrence\" ON \"task_queue\" (\"scheduler_task_id\", \"scheduled_at\")",
    "CREATE INDEX \"idx_task_queue_seq\" ON \"task_queue\" (\"seq\")",
    "CREATE INDEX \"idx_task_queue_finished\" ON \"task_queue\" (\"status\", \"completed_at\")",
    "CREATE INDEX \"idx_task_queue_lease\" ON \"task_queue\" (\"status\", \"lease_expires_at\")",
    "CREATE INDEX \"idx_task_queue_claim\" ON \"task_queue\" (\"status\", \"priority\", \"run_at\", \"seq\")",
    "CREATE TABLE \"queue_store\" (\"store_key\" character varying(191) NOT NULL, \"value\" json NOT NULL, \"expires_at\" bigint, \"updated_at\" bigint NOT NULL, CONSTRAINT \"pk_queue_store\" PRIMARY KEY (\"store_key\"))",
    "CREATE INDEX \"idx_queue_store_expires_at\" ON \"queue_store\" (\"expires_at\")",
  ],
  sqlite: [
    "CREATE TABLE \"task_queue\" (\"task_id\" varchar(191) PRIMARY KEY NOT NULL, \"seq\" bigint NOT NULL, \"task_type\" varchar(191) NOT NULL, \"params\" json NOT NULL, \"status\" varchar(16) NOT NULL, \"priority\" integer NOT NULL DEFAULT (0), \"run_at\" bigint NOT NULL, \"attempts\" integer NOT NULL DEFAULT (0), \"retry_count\" integer NOT NULL DEFAULT (0), \"max_retries\" integer, \"scheduler_task_id\" varchar(36), \"scheduled_at\" bigint, \"lease_owner\" varchar(64), \"lease_expires_at\" bigint, \"error_message\" text, \"result\" json, \"created_at\" bigint NOT NULL, \"started_at\" bigint, \"completed_at\" bigint)",
    "CREATE UNIQUE INDEX \"uq_task_queue_occurrence\" ON \"task_queue\" (\"scheduler_task_id\", \"scheduled_at\")",
    "CREATE INDEX \"idx_task_queue_seq\" ON \"task_queue\" (\"seq\")",
    "CREATE INDEX \"idx_task_queue_finished\" ON \"task_queue\" (\"status\", \"completed_at\")",
    "CREATE INDEX \"idx_task_queue_lease\" ON \"task_queue\" (\"status\", \"lease_expires_at\")",
    "CREATE INDEX \"idx_task_queue_claim\" ON \"task_queue\" (\"status\", \"priority\", \"run_at\", \"seq\")",
    "CREATE TABLE \"queue_store\" (\"store_key\" varchar(191) PRIMARY KEY NOT NULL, \"value\" json NOT NULL, \"expires_at\" bigint, \"updated_at\" bigint NOT NULL)",
    "CREATE INDEX \"idx_queue_store_expires_at\" ON \"queue_store\" (\"expires_at\")",
  ],
};

/** Creates `task_queue` (database backend, run history) and `queue_store` (public store) on MySQL/MariaDB, PostgreSQL or SQLite. @publicApi */
export class CreateTaskQueue1764400000000 implements MigrationInterface {
  name = 'CreateTaskQueue1764400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const sql of UP[dialectOf(queryRunner)]) await queryRunner.query(sql);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = dialectOf(queryRunner) === 'mysql' ? '`' : '"';
    await queryRunner.query(`DROP TABLE ${q}queue_store${q}`);
    await queryRunner.query(`DROP TABLE ${q}task_queue${q}`);
  }
}
