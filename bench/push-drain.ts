/**
 * push-drain: what a user meets first, N `pushTask` calls one by one (or
 * `pushTasks` of 1,000 at a time), then `onIdle()`, no-op handler, memory
 * backend, concurrency 100; timed from the first push to the last task's end.
 * Beside the raw floor measured the same way in the same process (an async
 * pool of 100 over a ring buffer: push into the ring, then drain), and
 * BullMQ's `add` / `addBulk` with a Worker at concurrency 100 on the local Redis.
 */
import { Queue, Worker } from 'bullmq';
import { MemoryQueueService, type PushTaskInput, WorkerPoolService } from 'nestjs-queue-scheduler';
import { boot, sink } from './lib/app';
import type { Recorder } from './lib/result';
import { REDIS, uniqueName } from './lib/servers';
import { repeat } from './lib/stats';

const N = Number(process.env.BENCH_PUSH_DRAIN_N ?? 200_000);
const BULL_N = Number(process.env.BENCH_BULL_N ?? 5_000);
const CONCURRENCY = 100;
const BATCH = 1000;
const REPEATS = 5;

/** Push n items into a ring one by one, then drain them with a pool of async workers. */
async function rawFloor(n: number): Promise<number> {
  const size = 2 ** Math.ceil(Math.log2(n + 1));
  const ring = new Array<{ id: number; params: unknown } | undefined>(size);
  const noop = async (_t: { id: number }): Promise<void> => {};
  const t0 = performance.now();
  let tail = 0;
  for (let i = 0; i < n; i++) ring[tail++ & (size - 1)] = { id: i, params: {} };
  let head = 0;
  const worker = async (): Promise<void> => {
    while (head !== tail) {
      const t = ring[head & (size - 1)]!;
      ring[head++ & (size - 1)] = undefined;
      await noop(t);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return n / ((performance.now() - t0) / 1000);
}

async function ours(n: number, batched: boolean): ReturnType<typeof repeat> {
  const app = await boot({ options: { workers: { concurrency: CONCURRENCY } } });
  const queue = app.get(MemoryQueueService);
  sink.run = () => undefined;
  try {
    return await repeat(REPEATS, async () => {
      const t0 = performance.now();
      if (batched) {
        for (let i = 0; i < n; i += BATCH) queue.pushTasks(Array.from({ length: Math.min(BATCH, n - i) }, (): PushTaskInput => ({ type: 'noop', params: {} })));
      } else {
        for (let i = 0; i < n; i++) queue.pushTask({ type: 'noop', params: {} });
      }
      await queue.onIdle();
      return n / ((performance.now() - t0) / 1000);
    });
  } finally {
    await app.get(WorkerPoolService).stop();
    await app.close();
  }
}

/** BullMQ the way its docs push: `add` awaited one by one (or `addBulk` of 1,000), a Worker draining meanwhile. */
async function bullmq(n: number, batched: boolean): ReturnType<typeof repeat> {
  return repeat(REPEATS, async () => {
    const name = uniqueName('push-drain');
    const queue = new Queue(name, { connection: REDIS });
    let done = 0;
    let finished!: () => void;
    const all = new Promise<void>((resolve) => (finished = resolve));
    const worker = new Worker(
      name,
      async () => {
        if (++done === n) finished();
      },
      { connection: REDIS, concurrency: CONCURRENCY },
    );
    await worker.waitUntilReady();
    try {
      const t0 = performance.now();
      if (batched) {
        for (let i = 0; i < n; i += BATCH) await queue.addBulk(Array.from({ length: Math.min(BATCH, n - i) }, () => ({ name: 'noop', data: {}, opts: { removeOnComplete: true } })));
      } else {
        for (let i = 0; i < n; i++) await queue.add('noop', {}, { removeOnComplete: true });
      }
      await all;
      return n / ((performance.now() - t0) / 1000);
    } finally {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
}

export async function run(rec: Recorder): Promise<void> {
  rec.settings.tasks = { ours: N, floor: N, bullmq: BULL_N, batch: BATCH, concurrency: CONCURRENCY, repeats: REPEATS, params: '{}' };
  rec.settings.timing = 'from the first push to the last task ended (onIdle for ours, the last completion for BullMQ)';
  const rates: Record<string, number> = {};
  const row = (c: string, subject: string, r: Awaited<ReturnType<typeof repeat>>): void => {
    rec.row({ case: c, subject, metric: 'push + drain', unit: 'tasks/s', value: r.median, range: [r.min, r.max], repeats: r.n });
    rates[`${subject}|${c}`] = r.median;
  };
  // one run of each in turn per repeat would be fairer still; the floor is cheap, so it is measured right before each of ours
  for (const batched of [false, true]) {
    const c = batched ? `pushTasks of ${BATCH.toLocaleString('en-US')}` : 'pushTask one by one';
    row(c, 'raw floor', await repeat(REPEATS, () => rawFloor(N)));
    row(c, 'nestjs-queue-scheduler, memory', await ours(N, batched));
    row(batched ? `addBulk of ${BATCH.toLocaleString('en-US')}` : 'add one by one', 'BullMQ (Redis)', await bullmq(BULL_N, batched));
  }
  const one = rates['nestjs-queue-scheduler, memory|pushTask one by one'] / rates['raw floor|pushTask one by one'];
  const bulk = rates[`nestjs-queue-scheduler, memory|pushTasks of ${BATCH.toLocaleString('en-US')}`] / rates[`raw floor|pushTasks of ${BATCH.toLocaleString('en-US')}`];
  rec.ratio('pushTask one by one + drain / raw floor', one, { text: '≥ 0.25', met: one >= 0.25 });
  rec.ratio(`pushTasks of ${BATCH.toLocaleString('en-US')} + drain / raw floor`, bulk, { text: '≥ 0.5', met: bulk >= 0.5 });
  rec.ratio('ours one by one / BullMQ add one by one', rates['nestjs-queue-scheduler, memory|pushTask one by one'] / rates['BullMQ (Redis)|add one by one']);
  rec.ratio(`ours pushTasks / BullMQ addBulk`, rates[`nestjs-queue-scheduler, memory|pushTasks of ${BATCH.toLocaleString('en-US')}`] / rates[`BullMQ (Redis)|addBulk of ${BATCH.toLocaleString('en-US')}`]);
}
