import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type DatabaseKind, type TestDatabase, useTestDatabase } from './databases';
import { type Instance, startInstance, stopAll, waitReady } from './processes';
import { bootProducer } from './producer';

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

/** A database with the ordered ledger, a producer app on it, and the worker processes a test starts. */
export interface LedgerCluster {
  readonly db: TestDatabase;
  readonly producer: INestApplication;
  readonly ds: DataSource;
  /** Starts `n` worker processes with `options` and waits until each is ready. */
  start(n: number, options: object): Promise<Instance[]>;
}

/**
 * A describe's fresh database of `kind` (SQLite in WAL: several processes on
 * one file need it, as the README sets it up) with the ordered ledger and a
 * producer; the processes a test starts are killed before the database goes.
 */
export function useLedgerCluster(kind: Exclude<DatabaseKind, 'mariadb-mysql'>): LedgerCluster {
  const base = useTestDatabase(kind);
  let db: TestDatabase;
  let producer: INestApplication;
  let ds: DataSource;
  const instances: Instance[] = [];
  base.beforeDrop(async () => {
    await stopAll(instances.splice(0), 'SIGKILL');
    await producer.close();
  });
  beforeAll(async () => {
    db = kind === 'sqlite' ? ({ ...base, options: { ...base.options, enableWAL: true } } as TestDatabase) : base;
    producer = await bootProducer(db);
    ds = producer.get(DataSource);
    await ds.query(ORDERED_LEDGER[kind]);
  });
  return {
    get db() {
      return db;
    },
    get producer() {
      return producer;
    },
    get ds() {
      return ds;
    },
    async start(n, options) {
      const started = Array.from({ length: n }, () => startInstance(db.options, options));
      instances.push(...started);
      await waitReady(started);
      return started;
    },
  };
}
