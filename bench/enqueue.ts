/**
 * enqueue: push rates with no worker running, one call per task (awaited in
 * turn, as a request handler would) and in bulk, per backend; beside
 * BullMQ's add/addBulk and pg-boss's send/insert.
 */
import type { INestApplicationContext } from '@nestjs/common';
import { Queue } from 'bullmq';
import { DatabaseQueueService, MemoryQueueService, type PushTaskInput } from 'nestjs-queue-scheduler';
import type { ClaimFilter } from 'nestjs-queue-scheduler/queue/queue-consumer';
import PgBoss from 'pg-boss';
import { boot } from './lib/app';
import type { Recorder } from './lib/result';
import { createTestDatabase, type DatabaseKind, REDIS, uniqueName } from './lib/servers';
import { repeat } from './lib/stats';

const REPEATS = 5;
const MEMORY_N = 100_000;
const SINGLE_N = Number(process.env.BENCH_ENQUEUE_SINGLE_N ?? 1_000);
const BULK_N = Number(process.env.BENCH_ENQUEUE_BULK_N ?? 10_000);
const BATCH = 1000;

const inputs = (n: number): PushTaskInput[] => Array.from({ length: n }, () => ({ type: 'noop', params: { n: 1 } }));

/** Tasks per second of `push` over `n` tasks, `REPEATS` times. */
async function rate(n: number, push: () => Promise<void>, before?: () => Promise<void>): Promise<ReturnType<typeof repeat>> {
  return repeat(REPEATS, async () => {
    await before?.();
    const t0 = performance.now();
    await push();
    return n / ((performance.now() - t0) / 1000);
  });
}

async function sequential(n: number, one: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i++) await one();
}

async function bulk(n: number, many: (batch: PushTaskInput[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i += BATCH) await many(inputs(Math.min(BATCH, n - i)));
}

export async function run(rec: Recorder): Promise<void> {
  rec.settings.tasks = { memory: MEMORY_N, single: SINGLE_N, bulk: BULK_N, batch: BATCH, repeats: REPEATS, params: '{ n: 1 }', workers: 'none running' };
  const out = (c: string, subject: string, r: Awaited<ReturnType<typeof rate>>): number => {
    rec.row({ case: c, subject, metric: 'push rate', unit: 'tasks/s', value: r.median, range: [r.min, r.max], repeats: r.n });
    return r.median;
  };
  const results: Record<string, number> = {};

  const mem = await boot({ options: { workers: { enabled: false } } });
  const mq = mem.get(MemoryQueueService);
  const all: ClaimFilter = { types: [], unknownTypes: true, handled: new Set() };
  const clear = async (): Promise<void> => {
    // the previous repeat's tasks are taken and completed, so every repeat pushes into an empty queue
    for (const task of mq.claim(all, Number.MAX_SAFE_INTEGER)) mq.complete(task, undefined, 0);
  };
  results['memory-single'] = out('single push', 'nestjs-queue-scheduler, memory', await rate(MEMORY_N, async () => { for (let i = 0; i < MEMORY_N; i++) mq.pushTask({ type: 'noop', params: { n: 1 } }); }, clear));
  results['memory-bulk'] = out(`bulk push (${BATCH} per call)`, 'nestjs-queue-scheduler, memory', await rate(MEMORY_N, () => bulk(MEMORY_N, async (b) => mq.pushTasks(b)), clear));
  await mem.close();

  for (const kind of ['sqlite', 'mariadb', 'postgres'] as DatabaseKind[]) {
    const db = await createTestDatabase(kind);
    let app: INestApplicationContext | undefined;
    try {
      app = await boot({ db: db.options, options: { queue: { backend: 'database' }, scheduler: { enabled: false }, workers: { enabled: false } } });
      const q = app.get(DatabaseQueueService);
      results[`${kind}-single`] = out('single push', `nestjs-queue-scheduler, ${kind}`, await rate(SINGLE_N, () => sequential(SINGLE_N, () => q.pushTask({ type: 'noop', params: { n: 1 } }))));
      results[`${kind}-bulk`] = out(`bulk push (${BATCH} per call)`, `nestjs-queue-scheduler, ${kind}`, await rate(BULK_N, () => bulk(BULK_N, (b) => q.pushTasks(b))));
    } finally {
      await app?.close();
      await db.drop();
    }
  }

  const name = uniqueName('enqueue');
  const queue = new Queue(name, { connection: REDIS });
  try {
    results['bull-single'] = out('single push', 'BullMQ (Redis)', await rate(SINGLE_N, () => sequential(SINGLE_N, () => queue.add('noop', { n: 1 }))));
    results['bull-bulk'] = out(`bulk push (${BATCH} per call)`, 'BullMQ (Redis)', await rate(BULK_N, () => bulk(BULK_N, (b) => queue.addBulk(b.map((t) => ({ name: t.type, data: t.params as object }))))));
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
  }

  const db = await createTestDatabase('postgres');
  const o = db.options as { host: string; port: number; username: string; database: string };
  const boss = new PgBoss({ host: o.host, port: o.port, user: o.username, database: o.database, max: 4, supervise: false, schedule: false });
  boss.on('error', () => undefined);
  try {
    await boss.start();
    await boss.createQueue('noop');
    results['boss-single'] = out('single push', 'pg-boss (PostgreSQL)', await rate(SINGLE_N, () => sequential(SINGLE_N, () => boss.send('noop', { n: 1 }))));
    results['boss-bulk'] = out(`bulk push (${BATCH} per call)`, 'pg-boss (PostgreSQL)', await rate(BULK_N, () => bulk(BULK_N, (b) => boss.insert(b.map((t) => ({ name: 'noop', data: t.params as object }))))));
  } finally {
    await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
    await db.drop();
  }
  rec.ratio('MariaDB single push / BullMQ add', results['mariadb-single'] / results['bull-single']);
  rec.ratio('MariaDB bulk push / BullMQ addBulk', results['mariadb-bulk'] / results['bull-bulk']);
  rec.ratio('PostgreSQL single push / pg-boss send', results['postgres-single'] / results['boss-single']);
  rec.ratio('PostgreSQL bulk push / pg-boss insert', results['postgres-bulk'] / results['boss-bulk']);
  rec.ratio('memory bulk / memory single', results['memory-bulk'] / results['memory-single']);
}
