/**
 * contention: 1, 2 and 4 worker processes on one MariaDB queue. Every run of
 * the handler inserts a ledger row, so a task run twice is counted however
 * it happened; the table's attempts column counts double claims.
 */
import { DurableRig } from './lib/durable';
import type { Recorder } from './lib/result';
import { createTestDatabase } from './lib/servers';

const N = Number(process.env.BENCH_CONTENTION_N ?? 10_000);
const CONCURRENCY = 20;

export async function run(rec: Recorder): Promise<void> {
  rec.settings.tasks = N;
  rec.settings.workers = `test/support/app-process.ts processes, workers.concurrency ${CONCURRENCY}, 'ledger' handler (one INSERT per run)`;
  const rig = await DurableRig.open(await createTestDatabase('mariadb'));
  const rates: number[] = [];
  let duplicates = 0;
  try {
    for (const processes of [1, 2, 4]) {
      const out = await rig.drain('ledger', N, processes, CONCURRENCY);
      const label = `MariaDB, ${processes} process(es)`;
      rec.row({ case: label, subject: 'nestjs-queue-scheduler', metric: 'throughput', unit: 'tasks/s', value: out.rate });
      rec.row({ case: label, subject: 'nestjs-queue-scheduler', metric: 'duplicate runs (ledger)', unit: 'runs', value: out.duplicateRuns ?? NaN });
      rec.row({ case: label, subject: 'nestjs-queue-scheduler', metric: 'tasks claimed twice (attempts > 1)', unit: 'tasks', value: out.reclaimed });
      rates.push(out.rate);
      duplicates += (out.duplicateRuns ?? 0) + out.reclaimed;
    }
  } finally {
    await rig.close();
  }
  rec.ratio('duplicate claims or runs, all process counts', duplicates, { text: '0', met: duplicates === 0 }, '');
  rec.ratio('4 processes / 1 process throughput', rates[2] / rates[0]);
  rec.ratio('2 processes / 1 process throughput', rates[1] / rates[0]);
}
