import type { DatabaseKind } from './databases';

/**
 * The `ledger` table the worker processes' `ledger` handler writes (see
 * app-process.ts), with ids that count up in insert order: a parent's row
 * after every child's proves it ran after them.
 */
export const ORDERED_LEDGER: Record<Exclude<DatabaseKind, 'mariadb-mysql'>, string> = {
  sqlite: 'CREATE TABLE ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id varchar(191) NOT NULL, attempt int NOT NULL, pid int NOT NULL)',
  mariadb: 'CREATE TABLE ledger (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, task_id varchar(191) NOT NULL, attempt int NOT NULL, pid int NOT NULL)',
  postgres: 'CREATE TABLE ledger (id serial PRIMARY KEY, task_id varchar(191) NOT NULL, attempt int NOT NULL, pid int NOT NULL)',
};
