/**
 * progress: what `ctx.progress()` costs per task on the hot path, beside
 * BullMQ's `job.updateProgress()` in the same run. Each subject drains the
 * same no-op tasks twice, without and with one progress report per task
 * (and, in memory, with ten: the throttle's case); the ratio with/without is
 * the cost, so the two libraries are compared on their own overhead.
 */
import { Queue, Worker } from 'bullmq';
import { MemoryQueueService, type PushTaskInput, RedisQueueService, type TaskContext, WorkerPoolService } from 'nestjs-queue-scheduler';
import { boot, sink } from './lib/app';
import { dropPrefix, pushMany, redisBackend } from './lib/redis';
import type { Recorder } from './lib/result';
import { REDIS, uniqueName } from './lib/servers';
import { repeat } from './lib/stats';

const N = Number(process.env.BENCH_PROGRESS_N ?? 100_000);
const REDIS_N = Number(process.env.BENCH_PROGRESS_REDIS_N ?? 3_000);
const REPEATS = 5;
const CONCURRENCY = 100;

type Body = (ctx: TaskContext) => void;
const BODIES: Array<[string, Body]> = [
  ['no report', () => undefined],
  ['1 report per task', (ctx) => ctx.progress(50)],
  ['10 reports per task', (ctx) => {
    for (let i = 1; i <= 10; i++) ctx.progress(i * 10);
  }],
];

function meter(n: number): { tick: () => void; rate: Promise<number> } {
  let count = 0;
  const t0 = performance.now();
  let done!: (rate: number) => void;
  const rate = new Promise<number>((resolve) => (done = resolve));
  return { tick: () => void (++count === n && done(n / ((performance.now() - t0) / 1000))), rate };
}

async function memory(body: Body): Promise<number> {
  const app = await boot({ options: { workers: { concurrency: CONCURRENCY } } });
  const queue = app.get(MemoryQueueService);
  try {
    const r = await repeat(REPEATS, async () => {
      const m = meter(N);
      sink.run = (_p, ctx) => {
        body(ctx);
        m.tick();
      };
      for (let i = 0; i < N; i += 10_000) queue.pushTasks(Array.from({ length: Math.min(10_000, N - i) }, (): PushTaskInput => ({ type: 'noop' })));
      const rate = await m.rate;
      await queue.onIdle();
      return rate;
    });
    return r.median;
  } finally {
    await app.close();
  }
}

async function oursRedis(body: Body): Promise<number> {
  const prefix = uniqueName('progress-redis');
  const app = await boot({ options: { autoStart: false, workers: { concurrency: CONCURRENCY }, queue: redisBackend(prefix) } });
  const queue = app.get(RedisQueueService);
  const pool = app.get(WorkerPoolService);
  try {
    const r = await repeat(REPEATS, async () => {
      const m = meter(REDIS_N);
      sink.run = (_p, ctx) => {
        body(ctx);
        m.tick();
      };
      await pushMany(queue, 'noop', REDIS_N);
      pool.start();
      const rate = await m.rate;
      await queue.onIdle();
      await pool.stop();
      return rate;
    });
    return r.median;
  } finally {
    await pool.stop();
    await app.close();
    await dropPrefix(prefix, REDIS);
  }
}

async function bullmq(report: boolean): Promise<number> {
  const name = uniqueName('progress-bull');
  const queue = new Queue(name, { connection: REDIS });
  try {
    const r = await repeat(REPEATS, async () => {
      for (let i = 0; i < REDIS_N; i += 1000) {
        await queue.addBulk(Array.from({ length: Math.min(1000, REDIS_N - i) }, () => ({ name: 'noop', data: {}, opts: { removeOnComplete: true } })));
      }
      const m = meter(REDIS_N);
      const worker = new Worker(name, async (job) => {
        if (report) await job.updateProgress(50);
        m.tick();
      }, { connection: REDIS, concurrency: CONCURRENCY });
      const rate = await m.rate;
      await worker.close();
      return rate;
    });
    return r.median;
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

export async function run(rec: Recorder): Promise<void> {
  rec.settings.tasks = { memory: N, redis: REDIS_N, concurrency: CONCURRENCY, repeats: REPEATS };
  rec.settings.progressIntervalMs = 'default (250 ms): the first report of a try is written at once, the rest of a burst at the end of the try';
  const row = (c: string, subject: string, value: number): void => void rec.row({ case: c, subject, metric: 'throughput', unit: 'tasks/s', value });
  const mem: number[] = [];
  for (const [label, body] of BODIES) {
    mem.push(await memory(body));
    row(`memory, ${label}`, 'nestjs-queue-scheduler', mem.at(-1)!);
  }
  // alternate the Redis subjects so drifting load hits them alike
  const ours = [await oursRedis(BODIES[0][1]), await oursRedis(BODIES[1][1])];
  const bull = [await bullmq(false), await bullmq(true)];
  row('redis, no report', 'nestjs-queue-scheduler, redis backend', ours[0]);
  row('redis, 1 report per task', 'nestjs-queue-scheduler, redis backend', ours[1]);
  row('redis, no report', 'BullMQ', bull[0]);
  row('redis, 1 report per task (updateProgress)', 'BullMQ', bull[1]);
  rec.ratio('memory: throughput with 1 report per task / without', mem[1] / mem[0]);
  rec.ratio('memory: throughput with 10 reports per task / without', mem[2] / mem[0]);
  rec.ratio('redis backend: with 1 report per task / without', ours[1] / ours[0]);
  rec.ratio('BullMQ: with updateProgress per job / without', bull[1] / bull[0]);
  rec.ratio('ours (redis backend) with a report / BullMQ with updateProgress', ours[1] / bull[1]);
}
