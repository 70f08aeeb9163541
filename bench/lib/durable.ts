import type { INestApplication } from '@nestjs/common';
import { DatabaseQueueService } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { type Instance, startInstance, stopAll, waitReady } from '../../test/support/processes';
import { bootProducer } from '../../test/support/producer';
import { waitFor } from '../../test/support/wait-for';
import type { TestDatabase } from './servers';

/** Rate over the middle 90% of completion times: start-up and the last stragglers are the warm-up and cool-down. */
export function middleRate(completedAt: number[]): number {
  const t = Float64Array.from(completedAt).sort();
  const lo = Math.floor(t.length * 0.05);
  const hi = Math.ceil(t.length * 0.95) - 1;
  return ((hi - lo) / Math.max(1, t[hi] - t[lo])) * 1000;
}

export interface DrainOutcome {
  rate: number;
  /** Tasks claimed more than once (attempts above 1); 0 is the exactly-once claim. */
  reclaimed: number;
  /** Runs recorded by the ledger handler beyond one per task (contention only). */
  duplicateRuns?: number;
}

/**
 * A producer app on `db` that preloads tasks held back by a far run time,
 * starts worker processes (test/support/instance.ts), lets them all see the
 * tasks at once, and reads the outcome from the table itself.
 */
export class DurableRig {
  private constructor(
    readonly db: TestDatabase,
    private readonly producer: INestApplication,
    readonly ds: DataSource,
  ) {}

  static async open(db: TestDatabase): Promise<DurableRig> {
    const producer = await bootProducer(db);
    const ds = producer.get(DataSource);
    await ds.query('CREATE TABLE ledger (task_id varchar(191) NOT NULL, attempt int NOT NULL, pid int NOT NULL)');
    return new DurableRig(db, producer, ds);
  }

  async close(): Promise<void> {
    await this.producer.close();
    await this.db.drop();
  }

  private async count(sql: string): Promise<number> {
    return Number(((await this.ds.query(sql)) as Array<{ n: unknown }>)[0].n);
  }

  async drain(type: 'tick' | 'ledger', n: number, processes: number, concurrency: number): Promise<DrainOutcome> {
    await this.ds.query('DELETE FROM task_queue');
    await this.ds.query('DELETE FROM ledger');
    const queue = this.producer.get(DatabaseQueueService);
    // On SQLite a worker process did not pick up tasks whose run_at another process moved earlier; it runs one process on tasks due from the start
    const heldBack = this.db.kind !== 'sqlite';
    for (let i = 0; i < n; i += 1000) {
      // held back until every process is up (SQLite: one process, tasks due at once; see heldBack)
      await queue.pushTasks(Array.from({ length: Math.min(1000, n - i) }, () => ({ type, delayMs: heldBack ? 3_600_000 : 0 })));
    }
    const options = { queue: { backend: 'database', pollIntervalMs: 100 }, scheduler: { enabled: false }, workers: { concurrency } };
    const instances: Instance[] = Array.from({ length: processes }, () => startInstance('instance.ts', this.db.options, options));
    try {
      await waitReady(instances, 60_000);
      if (heldBack) await this.ds.query(this.db.kind === 'postgres' ? 'UPDATE task_queue SET run_at = $1' : 'UPDATE task_queue SET run_at = ?', [Date.now()]);
      await waitFor(async () => (await this.count("SELECT COUNT(*) AS n FROM task_queue WHERE status = 'succeeded'")) === n, `${n} tasks succeeded`, 600_000, 200);
    } finally {
      await stopAll(instances);
    }
    const rows = (await this.ds.query('SELECT completed_at FROM task_queue')) as Array<{ completed_at: string | number }>;
    const outcome: DrainOutcome = {
      rate: middleRate(rows.map((r) => Number(r.completed_at))),
      reclaimed: await this.count('SELECT COUNT(*) AS n FROM task_queue WHERE attempts <> 1'),
    };
    if (type === 'ledger') outcome.duplicateRuns = (await this.count('SELECT COUNT(*) AS n FROM ledger')) - (await this.count('SELECT COUNT(DISTINCT task_id) AS n FROM ledger'));
    return outcome;
  }
}
