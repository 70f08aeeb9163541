import type { INestApplication } from '@nestjs/common';
import type { QueueSchedulerModuleOptions } from 'nestjs-queue-scheduler';
import type { DataSource } from 'typeorm';
import { type DatabaseKind, type SuiteDatabase, type TestDatabase, useTestDatabase } from '../../support/databases';
import { type Instance, stopAll } from '../../support/processes';
import { bootProducer } from '../../support/producer';

/**
 * The parent's side of the ledger: the tables the child handlers write
 * (`ledger_start` per try, `ledger_done` per success) and SQL counts over them.
 */
export class Ledger {
  /** Set by open(). */
  ds!: DataSource;
  producer!: INestApplication;

  /** Boots a producer-only app on `db` (it creates the library's tables) and creates the ledger tables. */
  static async create(db: TestDatabase, queue?: QueueSchedulerModuleOptions['queue']): Promise<Ledger> {
    const ledger = new Ledger();
    await ledger.open(db, queue);
    return ledger;
  }

  /** `queue`: the producer's backend (the database backend by default); the ledger tables are on `db` whatever it is. */
  async open(db: TestDatabase, queue?: QueueSchedulerModuleOptions['queue']): Promise<void> {
    this.producer = await bootProducer(db, queue);
    const { DataSource } = await import('typeorm');
    this.ds = this.producer.get(DataSource);
    await this.ds.query('CREATE TABLE ledger_start (task_id varchar(191) NOT NULL, attempt int NOT NULL, pid int NOT NULL, at bigint NOT NULL)');
    await this.ds.query('CREATE TABLE ledger_done (task_id varchar(191) NOT NULL, pid int NOT NULL, at bigint NOT NULL)');
  }

  get postgres(): boolean {
    return this.ds.options.type === 'postgres';
  }

  /** `?` placeholders in any dialect. */
  query<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
    let i = 0;
    return this.ds.query(this.postgres ? text.replace(/\?/g, () => `$${++i}`) : text, params);
  }

  async count(text: string, params: unknown[] = []): Promise<number> {
    const [row] = await this.query<{ n: string | number }>(text, params);
    return Number(row.n);
  }

  async clear(): Promise<void> {
    for (const table of ['ledger_start', 'ledger_done', 'task_queue', 'scheduler_task']) await this.ds.query(`DELETE FROM ${table}`);
  }

  close(): Promise<void> {
    return this.producer.close();
  }
}

/**
 * The suite's database of `kind` with the ledger open on it (from beforeAll);
 * before the drop, the suite's `instances()` are SIGKILLed and the ledger closed.
 */
export function useLedger(kind: DatabaseKind, instances: () => Instance[], queue?: () => QueueSchedulerModuleOptions['queue']): { db: SuiteDatabase; ledger: Ledger } {
  const db = useTestDatabase(kind);
  const ledger = new Ledger();
  beforeAll(() => ledger.open(db, queue?.()));
  db.beforeDrop(async () => {
    await stopAll(instances(), 'SIGKILL');
    if (ledger.producer) await ledger.close();
  });
  return { db, ledger };
}
