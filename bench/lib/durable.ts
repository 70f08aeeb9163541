import type { INestApplication } from '@nestjs/common';
import { DatabaseQueueService } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { type Instance, startInstance, stopAll, waitReady } from '../../test/support/processes';
import { bootProducer } from '../../test/support/producer';
import { waitFor } from '../../test/support/wait-for';
import type { TestDatabase } from './servers';

/** The first and last of the middle 90% of completion times (ms), the window middleRate measures over. */
export function middleWindow(completedAt: number[]): [number, number] {
  const t = Float64Array.from(completedAt).sort();
  return [t[Math.floor(t.length * 0.05)], t[Math.ceil(t.length * 0.95) - 1]];
}

/** Rate over the middle 90% of completion times: start-up and the last stragglers are the warm-up and cool-down. */
export function middleRate(completedAt: number[]): number {
  const lo = Math.floor(completedAt.length * 0.05);
  const hi = Math.ceil(completedAt.length * 0.95) - 1;
  const [from, to] = middleWindow(completedAt);
  return ((hi - lo) / Math.max(1, to - from)) * 1000;
}

export interface DrainOutcome {
  rate: number;
  /** middleWindow of the completion times, for reading other counters (CPU) over the same span. */
  window?: [number, number];
  /** Tasks claimed more than once (attempts above 1); 0 is the exactly-once claim. */
  reclaimed: number;
  /** Runs recorded by the ledger handler beyond one per task (contention only). */
  duplicateRuns?: number;
  /** What the worker processes wrote to stderr (their log level is 'error': claim or outcome failures). */
  errors?: string[];
}

/**
 * A producer app on `db` that preloads the tasks, starts worker processes
 * (test/support/app-process.ts) with their workers stopped, starts them all at
 * once, and reads the outcome from the table itself.
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

  async drain(type: 'tick' | 'ledger' | 'digest' | 'wait10', n: number, processes: number, concurrency: number): Promise<DrainOutcome> {
    // TRUNCATE, not DELETE: InnoDB purges deleted rows in the background, and that purge would run through the next drain
    for (const table of ['task_queue', 'ledger']) await this.ds.query(this.db.kind === 'sqlite' ? `DELETE FROM ${table}` : `TRUNCATE TABLE ${table}`);
    const queue = this.producer.get(DatabaseQueueService);
    for (let i = 0; i < n; i += 1000) await queue.pushTasks(Array.from({ length: Math.min(1000, n - i) }, () => ({ type })));
    // The workers boot with nothing started and start together once all are up. (Releasing tasks held back by a
    // far run_at took one UPDATE of every row, which deadlocked with the claims of processes already polling.)
    const options = { autoStart: false, queue: { backend: 'database', pollIntervalMs: 100 }, scheduler: { enabled: false }, workers: { concurrency } };
    const instances: Instance[] = Array.from({ length: processes }, () => startInstance(this.db.options, options, { env: { QS_START_ON_STDIN: '1', QS_RATE: 'off' } }));
    try {
      await waitReady(instances, 60_000);
      for (const i of instances) i.child.stdin!.write('start\n');
      // whether anything is left, not how much is done: counting the finished rows five times a second took a
      // share of the database's CPU that grew with the drain, and the workers compete for that CPU
      const left = "SELECT task_id FROM task_queue WHERE status IN ('pending', 'running') LIMIT 1";
      await waitFor(async () => ((await this.ds.query(left)) as unknown[]).length === 0, `${n} tasks finished`, 600_000, 200);
    } finally {
      await stopAll(instances);
    }
    const rows = (await this.ds.query("SELECT completed_at FROM task_queue WHERE status = 'succeeded'")) as Array<{ completed_at: string | number }>;
    if (rows.length !== n) throw new Error(`${n - rows.length} of ${n} tasks did not succeed`);
    const errors = instances.flatMap((i) => i.stderr);
    // a claim or a write that failed costs a second's pause: say so beside the figure it distorted
    if (errors.length) process.stderr.write(`${this.db.kind}, ${processes} process(es), concurrency ${concurrency}: the workers logged\n${errors.join('\n')}\n`);
    const outcome: DrainOutcome = {
      rate: middleRate(rows.map((r) => Number(r.completed_at))),
      reclaimed: await this.count('SELECT COUNT(*) AS n FROM task_queue WHERE attempts <> 1'),
      errors,
    };
    if (type === 'ledger') outcome.duplicateRuns = (await this.count('SELECT COUNT(*) AS n FROM ledger')) - (await this.count('SELECT COUNT(DISTINCT task_id) AS n FROM ledger'));
    return outcome;
  }
}
