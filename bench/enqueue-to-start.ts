/**
 * enqueue-to-start: sequential samples with an idle worker, from the push
 * call to the handler's first line: memory backend, database backend with
 * the worker in the pushing instance, database backend with the worker in
 * another instance (a second app on the same database, which learns of the
 * task only by polling), and BullMQ on Redis beside our redis backend (the
 * worker in the pushing instance, as BullMQ's Worker is in its process).
 */
import type { INestApplicationContext } from '@nestjs/common';
import { Queue, Worker } from 'bullmq';
import { DatabaseQueueService, RedisQueueService, TaskQueue } from 'nestjs-queue-scheduler';
import { boot, sink } from './lib/app';
import { KEPT_AS_OURS } from './lib/bullmq-worker';
import { dropPrefix, redisBackend } from './lib/redis';
import type { Recorder } from './lib/result';
import { createTestDatabase, REDIS, uniqueName } from './lib/servers';
import { latency } from './lib/stats';

const SAMPLES = Number(process.env.BENCH_E2S_SAMPLES ?? 1000);
/** A database sample costs a commit and a wake-up (tens of ms under load): fewer of them. */
const DB_SAMPLES = Number(process.env.BENCH_E2S_DB_SAMPLES ?? 300);
/** Polling makes each cross-instance sample cost tens of ms: fewer of them. */
const OTHER_SAMPLES = Number(process.env.BENCH_E2S_OTHER_SAMPLES ?? 150);
const WARM = 50;
/** Samples per turn of the redis pair (BullMQ, BullMQ keeping jobs as ours, our redis backend). */
const CHUNK = 100;

/** Pushes one task at a time and records push→start; the next push waits for the previous task to finish. The first `warm` are left out. */
async function sample(n: number, push: () => unknown, idle: () => Promise<void>, warm = WARM): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n + warm; i++) {
    let started!: (t: number) => void;
    const start = new Promise<number>((resolve) => (started = resolve));
    sink.run = () => started(performance.now());
    const t0 = performance.now();
    await push();
    const t1 = await start;
    await idle();
    if (i >= warm) out.push(t1 - t0);
  }
  return out;
}

/** Something sampled in chunks, taking turns with another: `take(n, warm)` records n samples after `warm` left out. */
interface Sampler {
  take(n: number, warm: number): Promise<number[]>;
  close(): Promise<void>;
}

/** BullMQ's Queue and a Worker at concurrency 1 in this process, jobs added one at a time with job options `opts`. */
async function bullmq(opts: object): Promise<Sampler> {
  const name = uniqueName('e2s');
  const queue = new Queue(name, { connection: REDIS });
  let started: (t: number) => void = () => undefined;
  let finished: () => void = () => undefined;
  const worker = new Worker(name, async () => started(performance.now()), { connection: REDIS, concurrency: 1 });
  worker.on('completed', () => finished());
  await worker.waitUntilReady();
  return {
    async take(n, warm) {
      const out: number[] = [];
      for (let i = 0; i < n + warm; i++) {
        const start = new Promise<number>((resolve) => (started = resolve));
        const done = new Promise<void>((resolve) => (finished = resolve));
        const t0 = performance.now();
        await queue.add('noop', {}, opts);
        const t1 = await start;
        await done;
        if (i >= warm) out.push(t1 - t0);
      }
      return out;
    },
    async close() {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    },
  };
}

/** Our redis backend, worker and pusher in one app: BullMQ's case with our pool and consumer on top. */
async function oursRedis(): Promise<Sampler> {
  const prefix = uniqueName('e2s-redis');
  const app = await boot({ options: { queue: redisBackend(prefix), scheduler: { enabled: false }, workers: { concurrency: 1 } } });
  const queue = app.get(RedisQueueService);
  return {
    // polled every 2 ms, as the database rows: the default 50 ms would make each sample wait that long for the next
    take: (n, warm) => sample(n, () => queue.pushTask({ type: 'noop' }), () => queue.onIdle(2), warm),
    async close() {
      await app.close();
      await dropPrefix(prefix, REDIS);
    },
  };
}

/** Samplers taking turns in chunks of CHUNK, so load that drifts during the run (2 shared cores) hits each alike. */
async function inTurns(n: number, samplers: Sampler[]): Promise<number[][]> {
  const out = samplers.map((): number[] => []);
  for (let done = 0; done < n; done += CHUNK) {
    for (let i = 0; i < samplers.length; i++) out[i].push(...(await samplers[i].take(Math.min(CHUNK, n - done), done === 0 ? WARM : 0)));
  }
  return out;
}

export async function run(rec: Recorder): Promise<void> {
  rec.settings.samples = { memory: SAMPLES, databaseSameInstance: DB_SAMPLES, databaseOtherInstance: OTHER_SAMPLES, bullmq: SAMPLES, bullmqKept: SAMPLES, redisBackend: SAMPLES, warmUp: `${WARM} samples excluded`, redisPair: `BullMQ (removeOnComplete: true), BullMQ keeping finished jobs 30 days (the options our backend gives it) and our redis backend take turns, ${CHUNK} samples each` };
  rec.settings.database = 'MariaDB; workers.concurrency 1; other instance: a second Nest app in this process (workers only), queue.pollIntervalMs 500 (the default)';
  const record = (subject: string, values: number[]): ReturnType<typeof latency> => {
    const l = latency(values);
    for (const q of ['min', 'p50', 'p99', 'max'] as const) rec.row({ case: 'push → handler start', subject, metric: q, unit: 'ms', value: l[q] });
    return l;
  };
  const apps: INestApplicationContext[] = [];
  const mem = await boot({ options: { workers: { concurrency: 1 } } });
  const memQueue = mem.get(TaskQueue);
  const memory = record('nestjs-queue-scheduler, memory', await sample(SAMPLES, () => memQueue.pushTask({ type: 'noop' }), () => memQueue.onIdle()));
  await mem.close();

  const db = await createTestDatabase('mariadb');
  try {
    const same = await boot({ db: db.options, options: { queue: { backend: 'database' }, scheduler: { enabled: false }, workers: { concurrency: 1 } } });
    apps.push(same);
    const q = same.get(TaskQueue);
    const idle = (): Promise<void> => same.get(DatabaseQueueService).onIdle(2);
    record('nestjs-queue-scheduler, MariaDB, same instance', await sample(DB_SAMPLES, () => q.pushTask({ type: 'noop' }), idle));
    await same.close();
    apps.length = 0;
    const producer = await boot({ db: db.options, options: { queue: { backend: 'database' }, scheduler: { enabled: false }, workers: { enabled: false } } });
    const consumer = await boot({ db: db.options, options: { queue: { backend: 'database' }, scheduler: { enabled: false }, workers: { concurrency: 1 } } });
    apps.push(producer, consumer);
    const pq = producer.get(TaskQueue);
    record('nestjs-queue-scheduler, MariaDB, other instance', await sample(OTHER_SAMPLES, () => pq.pushTask({ type: 'noop' }), () => producer.get(DatabaseQueueService).onIdle(2)));
  } finally {
    for (const app of apps) await app.close();
    await db.drop();
  }
  const samplers = [await bullmq({ removeOnComplete: true }), await bullmq(KEPT_AS_OURS), await oursRedis()];
  let redisSamples: number[][];
  try {
    redisSamples = await inTurns(SAMPLES, samplers);
  } finally {
    for (const s of samplers) await s.close();
  }
  const bull = record('BullMQ (Redis)', redisSamples[0]);
  const bullKept = record('BullMQ (Redis), finished jobs kept 30 days as ours', redisSamples[1]);
  const ourRedis = record('nestjs-queue-scheduler, redis backend', redisSamples[2]);
  rec.ratio('memory backend p99 (ms)', memory.p99, { text: '< 1 ms', met: memory.p99 < 1 }, ' ms');
  rec.ratio('BullMQ p99 / memory backend p99', bull.p99 / memory.p99);
  rec.ratio('BullMQ p50 / memory backend p50', bull.p50 / memory.p50);
  const over = ourRedis.p99 / bullKept.p99;
  rec.ratio('redis backend p99 / BullMQ p99 at the same durability (finished jobs kept 30 days)', over, { text: '≤ 1.1', met: over <= 1.1 });
  rec.ratio('redis backend p50 / BullMQ p50 at the same durability', ourRedis.p50 / bullKept.p50);
  rec.ratio('redis backend p99 / BullMQ p99 removing finished jobs (removeOnComplete: true)', ourRedis.p99 / bull.p99);
}
