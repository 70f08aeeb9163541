import type { INestApplication } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { bootProducer } from '../../support/producer';
import type { TestDatabase } from '../../support/databases';

/**
 * The parent's side of the ledger: the tables the child handlers write
 * (`ledger_start` per try, `ledger_done` per success) and SQL counts over them.
 */
export class Ledger {
  private constructor(
    readonly ds: DataSource,
    readonly producer: INestApplication,
  ) {}

  /** Boots a producer-only app on `db` (it creates the library's tables) and creates the ledger tables. */
  static async create(db: TestDatabase): Promise<Ledger> {
    const producer = await bootProducer(db);
    const { DataSource } = await import('typeorm');
    const ds = producer.get(DataSource);
    await ds.query('CREATE TABLE ledger_start (task_id varchar(191) NOT NULL, attempt int NOT NULL, pid int NOT NULL, at bigint NOT NULL)');
    await ds.query('CREATE TABLE ledger_done (task_id varchar(191) NOT NULL, pid int NOT NULL, at bigint NOT NULL)');
    return new Ledger(ds, producer);
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
