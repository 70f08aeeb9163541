/**
 * The profiling run behind "Redis backend vs BullMQ" in docs/benchmarks.md:
 * drains BENCH_PROFILE_N no-op tasks at concurrency 100 through our redis
 * backend (`ours`) or raw BullMQ (`bullmq`) and prints the rate and the Lua
 * script calls and script time Redis reports per task (INFO commandstats;
 * server-wide, so other clients of the server show up in it too).
 *   node --cpu-prof -r @swc-node/register bench/lib/redis-profile.ts ours|bullmq
 */
import 'reflect-metadata';
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { RedisQueueService, WorkerPoolService } from 'nestjs-queue-scheduler';
import { boot, sink } from './app';
import { dropPrefix, pushMany, redisBackend } from './redis';
import { REDIS, uniqueName } from './servers';

const N = Number(process.env.BENCH_PROFILE_N ?? 20_000);

/** Resolves once `count` calls of the returned tick arrived. */
function counter(count: number): { tick: () => void; all: Promise<void> } {
  let n = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  return { tick: () => void (++n === count && done()), all };
}

async function ours(): Promise<number> {
  const prefix = uniqueName('profile-redis');
  const app = await boot({ options: { autoStart: false, workers: { concurrency: 100 }, queue: redisBackend(prefix) } });
  const pool = app.get(WorkerPoolService);
  try {
    const c = counter(N);
    sink.run = c.tick;
    await pushMany(app.get(RedisQueueService), 'noop', N);
    const t0 = performance.now();
    pool.start();
    await c.all;
    return N / ((performance.now() - t0) / 1000);
  } finally {
    await pool.stop();
    await app.close();
    await dropPrefix(prefix, REDIS);
  }
}

async function bullmq(): Promise<number> {
  const queue = new Queue(uniqueName('profile-bullmq'), { connection: REDIS });
  try {
    for (let i = 0; i < N; i += 1000) {
      await queue.addBulk(Array.from({ length: Math.min(1000, N - i) }, () => ({ name: 'noop', data: {}, opts: { removeOnComplete: true } })));
    }
    const c = counter(N);
    const t0 = performance.now();
    const worker = new Worker(queue.name, async () => c.tick(), { connection: REDIS, concurrency: 100 });
    await c.all;
    const rate = N / ((performance.now() - t0) / 1000);
    await worker.close();
    return rate;
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

/** EVALSHA calls and their microseconds so far, from INFO commandstats. */
async function scripts(redis: IORedis): Promise<{ calls: number; usec: number }> {
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await redis.info('commandstats'));
  return { calls: Number(m?.[1] ?? 0), usec: Number(m?.[2] ?? 0) };
}

async function main(): Promise<void> {
  const which = process.argv[2] === 'bullmq' ? 'bullmq' : 'ours';
  const redis = new IORedis({ ...REDIS });
  const before = await scripts(redis);
  const rate = await (which === 'bullmq' ? bullmq() : ours());
  const after = await scripts(redis);
  redis.disconnect();
  const perTask = (after.calls - before.calls) / N;
  const usPerTask = (after.usec - before.usec) / N;
  process.stdout.write(`${which}: ${Math.round(rate)} tasks/s; ${perTask.toFixed(2)} script calls and ${Math.round(usPerTask)} µs of script time in Redis per task (push and drain)\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
