/**
 * inproc-drain: no-op tasks through @TaskHandler on the memory backend, at
 * concurrency 1 and 100, with an empty queue behind them and with a backlog
 * of 1M; beside a raw floor (an async pool over a ring buffer) and BullMQ.
 * Our redis backend runs beside BullMQ with BullMQ's counts: the ratio is
 * our overhead over BullMQ itself.
 * Rates count the measured tasks only: the first WARM tasks of a repeat are excluded.
 */
import { Queue, Worker } from 'bullmq';
import { MemoryQueueService, type PushTaskInput, RedisQueueService, WorkerPoolService } from 'nestjs-queue-scheduler';
import { boot, sink } from './lib/app';
import { KEPT_AS_OURS } from './lib/bullmq-worker';
import { dropPrefix, pushMany, redisBackend } from './lib/redis';
import type { Recorder } from './lib/result';
import { REDIS, uniqueName } from './lib/servers';
import { repeat, summarize } from './lib/stats';

/** Measured tasks per repeat: at a million a second a repeat lasts ~0.2 s, long enough that one GC pause or a busy neighbour does not decide it. */
const N = Number(process.env.BENCH_INPROC_N ?? 200_000);
const WARM = warmUpOf(N);
const BACKLOG = Number(process.env.BENCH_INPROC_BACKLOG ?? 1_000_000);
const BULL_N = Number(process.env.BENCH_BULL_N ?? 5_000);
const REPEATS = 5;
/** A 1M backlog takes a few seconds to push and to drain between repeats: three repeats. */
const BACKLOG_REPEATS = 3;

/** Resolves with the rate between the WARM-th and the (WARM+n)-th call of `tick`. */
/** 10% of a measured count, whole: the meter counts tasks one by one, so a fractional warm-up never starts the clock. */
function warmUpOf(n: number): number {
  return Math.ceil(n / 10);
}

function meter(n: number, warm: number): { tick: () => void; rate: Promise<number> } {
  let count = 0;
  let t0 = 0;
  let done!: (rate: number) => void;
  const rate = new Promise<number>((resolve) => (done = resolve));
  return {
    tick: () => {
      count++;
      if (count === warm) t0 = performance.now();
      else if (count === warm + n) done(n / ((performance.now() - t0) / 1000));
    },
    rate,
  };
}

/** The floor: the least a pool of `concurrency` async workers over a ring buffer can do per task. */
async function rawFloor(concurrency: number, n: number, backlog: number): Promise<number> {
  const total = WARM + n + backlog;
  const size = 2 ** Math.ceil(Math.log2(total + 1));
  const ring = new Array<{ id: number } | undefined>(size);
  let head = 0;
  let tail = 0;
  for (let i = 0; i < total; i++) ring[tail++ & (size - 1)] = { id: i };
  const noop = async (_t: { id: number }): Promise<void> => {};
  const m = meter(n, WARM);
  let stop = false;
  void m.rate.then(() => (stop = true));
  const worker = async (): Promise<void> => {
    while (!stop && head !== tail) {
      const t = ring[head & (size - 1)]!;
      ring[head++ & (size - 1)] = undefined;
      await noop(t);
      m.tick();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return m.rate;
}

async function ours(concurrency: number, n: number, backlog: number, repeats: number): Promise<ReturnType<typeof repeat>> {
  const app = await boot({ options: { workers: { concurrency }, queue: { historySize: 1000 } } });
  const queue = app.get(MemoryQueueService);
  const pool = app.get(WorkerPoolService);
  try {
    return await repeat(repeats, async () => {
      const m = meter(n, WARM);
      sink.run = m.tick;
      // the measured tasks go first; the backlog sits behind them in the same heap while they run
      for (let i = 0; i < WARM + n + backlog; i += 50_000) {
        const count = Math.min(50_000, WARM + n + backlog - i);
        queue.pushTasks(Array.from({ length: count }, (): PushTaskInput => ({ type: 'noop' })));
      }
      const rate = await m.rate;
      // the backlog runs out as no-ops, so the next repeat starts from an empty queue
      sink.run = () => undefined;
      await queue.onIdle();
      return rate;
    });
  } finally {
    await pool.stop();
    await app.close();
  }
}

async function bullmq(concurrency: number, n: number, repeats = REPEATS, opts: object = { removeOnComplete: true }): Promise<ReturnType<typeof repeat>> {
  const name = uniqueName('inproc');
  const queue = new Queue(name, { connection: REDIS });
  try {
    return await repeat(repeats, async () => {
      const m = meter(n, warmUpOf(n));
      const total = n + warmUpOf(n);
      for (let i = 0; i < total; i += 1000) {
        await queue.addBulk(Array.from({ length: Math.min(1000, total - i) }, () => ({ name: 'noop', data: {}, opts })));
      }
      // a fresh worker per repeat, started once its jobs are loaded, like ours
      const worker = new Worker(name, async () => m.tick(), { connection: REDIS, concurrency });
      const rate = await m.rate;
      await worker.close();
      return rate;
    });
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

/**
 * Our pool on backend 'redis', measured as BullMQ is below: the jobs are
 * loaded first (autoStart off), then the pool starts, once per repeat.
 */
async function oursRedis(concurrency: number, n: number, repeats: number): Promise<ReturnType<typeof repeat>> {
  const prefix = uniqueName('inproc-redis');
  const app = await boot({ options: { autoStart: false, workers: { concurrency }, queue: redisBackend(prefix) } });
  const queue = app.get(RedisQueueService);
  const pool = app.get(WorkerPoolService);
  try {
    return await repeat(repeats, async () => {
      const m = meter(n, warmUpOf(n));
      sink.run = m.tick;
      await pushMany(queue, 'noop', n + warmUpOf(n));
      pool.start();
      const rate = await m.rate;
      await queue.onIdle();
      await pool.stop();
      return rate;
    });
  } finally {
    await pool.stop();
    await app.close();
    await dropPrefix(prefix, REDIS);
  }
}

export async function run(rec: Recorder): Promise<void> {
  rec.settings.measured = { ours: N, floor: N, bullmq: BULL_N, warmUp: '10% of the measured count, excluded', backlog: BACKLOG };
  rec.settings.repeats = { backlog0: REPEATS, backlog1M: BACKLOG_REPEATS, bullmq: REPEATS };
  rec.settings.bullmq =
    "Queue + Worker in this process on the local Redis, addBulk in chunks of 1,000; removeOnComplete: true for the memory backend's ratios, and finished jobs kept 30 days (removeOnComplete/removeOnFail { age }, the options our redis backend gives BullMQ at the default retentionDays) for the redis backend's: issue 20's 'same durability settings'";
  rec.settings.oursRedis = "our pool on queue.backend 'redis' (same Redis, BullMQ's counts, one repeat of each in turn), pushTask x500 in flight, pool started after the load; jobs kept by retentionDays (30)";
  const rate: Record<string, number> = {};
  for (const concurrency of [1, 100]) {
    for (const backlog of [0, BACKLOG]) {
      const label = `concurrency ${concurrency}, backlog ${backlog.toLocaleString('en-US')}`;
      const floor = await repeat(backlog ? BACKLOG_REPEATS : REPEATS, () => rawFloor(concurrency, N, backlog));
      rec.row({ case: label, subject: 'raw floor', metric: 'throughput', unit: 'tasks/s', value: floor.median, range: [floor.min, floor.max], repeats: floor.n });
      const r = await ours(concurrency, N, backlog, backlog ? BACKLOG_REPEATS : REPEATS);
      rec.row({ case: label, subject: 'nestjs-queue-scheduler', metric: 'throughput', unit: 'tasks/s', value: r.median, range: [r.min, r.max], repeats: r.n });
      rate[`ours-${concurrency}-${backlog}`] = r.median;
      rate[`floor-${concurrency}-${backlog}`] = floor.median;
    }
    const bn = concurrency === 1 ? BULL_N / 4 : BULL_N;
    // one repeat of each in turn, so load that drifts during the run hits both alike
    const bs: number[] = [];
    const ks: number[] = [];
    const rs: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      bs.push((await bullmq(concurrency, bn, 1)).median);
      ks.push((await bullmq(concurrency, bn, 1, KEPT_AS_OURS)).median);
      rs.push((await oursRedis(concurrency, bn, 1)).median);
    }
    const b = summarize(bs);
    const k = summarize(ks);
    const r = summarize(rs);
    rec.row({ case: `concurrency ${concurrency}, backlog 0`, subject: 'BullMQ (Redis)', metric: 'throughput', unit: 'tasks/s', value: b.median, range: [b.min, b.max], repeats: b.n });
    rate[`bull-${concurrency}`] = b.median;
    rec.row({ case: `concurrency ${concurrency}, backlog 0`, subject: 'BullMQ (Redis), finished jobs kept 30 days as ours', metric: 'throughput', unit: 'tasks/s', value: k.median, range: [k.min, k.max], repeats: k.n });
    rate[`bullKept-${concurrency}`] = k.median;
    rec.row({ case: `concurrency ${concurrency}, backlog 0`, subject: 'nestjs-queue-scheduler, redis backend', metric: 'throughput', unit: 'tasks/s', value: r.median, range: [r.min, r.max], repeats: r.n });
    rate[`redis-${concurrency}`] = r.median;
  }
  const o = rate[`ours-100-0`];
  rec.ratio('ours at concurrency 100 (tasks/s)', o, { text: '≥ 1,000,000', met: o >= 1e6 }, ' tasks/s');
  rec.ratio('ours / raw floor, concurrency 100', o / rate['floor-100-0'], { text: '≥ 0.25', met: o / rate['floor-100-0'] >= 0.25 });
  rec.ratio('ours / BullMQ, concurrency 100', o / rate['bull-100'], { text: '≥ 50', met: o / rate['bull-100'] >= 50 });
  rec.ratio('ours / BullMQ, concurrency 1', rate['ours-1-0'] / rate['bull-1']);
  const flat = rate[`ours-100-${BACKLOG}`] / o;
  rec.ratio('ours with 1M backlog / with none, concurrency 100', flat, { text: 'flat (≥ 0.8)', met: flat >= 0.8 });
  rec.ratio('ours with 1M backlog / with none, concurrency 1', rate[`ours-1-${BACKLOG}`] / rate['ours-1-0']);
  for (const c of [100, 1]) {
    const over = rate[`redis-${c}`] / rate[`bullKept-${c}`];
    rec.ratio(`redis backend / BullMQ at the same durability (finished jobs kept 30 days), concurrency ${c}`, over, { text: '≥ 0.85 (within 15%)', met: over >= 0.85 });
    rec.ratio(`redis backend / BullMQ removing finished jobs (removeOnComplete: true), concurrency ${c}`, rate[`redis-${c}`] / rate[`bull-${c}`]);
  }
}
