/**
 * memory: heap and RSS after many tasks through the worker pool and after
 * 100k store keys set and expired, each compared with the figure after a
 * warm-up, both after a full GC. Growth would be a leak in the hot path.
 */
import { MemoryQueueService, type PushTaskInput } from 'nestjs-queue-scheduler';
import { boot, sink } from './lib/app';
import type { Recorder } from './lib/result';

const TASKS = Number(process.env.BENCH_MEMORY_TASKS ?? 1_000_000);
const WARM = 50_000;
const KEYS = 100_000;
const CHUNK = 10_000;

function measure(): { heapMB: number; rssMB: number } {
  const gc = (global as { gc?: () => void }).gc;
  if (!gc) throw new Error('memory needs node --expose-gc (npm run bench passes it)');
  gc();
  gc();
  const m = process.memoryUsage();
  return { heapMB: m.heapUsed / 2 ** 20, rssMB: m.rss / 2 ** 20 };
}

export async function run(rec: Recorder): Promise<void> {
  rec.settings.tasks = { measured: TASKS, warmUp: WARM, chunk: CHUNK };
  rec.settings.keys = KEYS;
  const app = await boot({ options: { workers: { concurrency: 100 } } });
  const queue = app.get(MemoryQueueService);
  sink.run = () => undefined;
  const through = async (n: number): Promise<void> => {
    // in chunks, as a producer would: the pool drains each while the next waits
    for (let i = 0; i < n; i += CHUNK) {
      queue.pushTasks(Array.from({ length: Math.min(CHUNK, n - i) }, (): PushTaskInput => ({ type: 'noop', params: { i } })));
      await queue.onIdle();
    }
  };
  try {
    await through(WARM);
    const before = measure();
    rec.row({ case: `after ${WARM.toLocaleString('en-US')} warm-up tasks`, subject: 'nestjs-queue-scheduler', metric: 'heap used', unit: 'MB', value: before.heapMB });
    rec.row({ case: `after ${WARM.toLocaleString('en-US')} warm-up tasks`, subject: 'nestjs-queue-scheduler', metric: 'RSS', unit: 'MB', value: before.rssMB });
    await through(TASKS);
    const after = measure();
    const label = `after ${(WARM + TASKS).toLocaleString('en-US')} tasks`;
    rec.row({ case: label, subject: 'nestjs-queue-scheduler', metric: 'heap used', unit: 'MB', value: after.heapMB });
    rec.row({ case: label, subject: 'nestjs-queue-scheduler', metric: 'RSS', unit: 'MB', value: after.rssMB });
    rec.ratio('heap growth over the tasks (MB)', after.heapMB - before.heapMB, { text: 'no growth (< 5 MB)', met: after.heapMB - before.heapMB < 5 }, ' MB');

    for (let i = 0; i < KEYS; i++) queue.setPublic(`k${i}`, { v: i }, 1);
    const set = measure();
    rec.row({ case: `${KEYS.toLocaleString('en-US')} store keys set (TTL 1 s)`, subject: 'nestjs-queue-scheduler', metric: 'heap used', unit: 'MB', value: set.heapMB });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const removed = queue.cleanup();
    const expired = measure();
    rec.row({ case: 'after they expired and cleanup() ran', subject: 'nestjs-queue-scheduler', metric: 'heap used', unit: 'MB', value: expired.heapMB });
    rec.row({ case: 'after they expired and cleanup() ran', subject: 'nestjs-queue-scheduler', metric: 'keys removed', unit: 'keys', value: removed });
    rec.row({ case: 'after they expired and cleanup() ran', subject: 'nestjs-queue-scheduler', metric: 'RSS', unit: 'MB', value: expired.rssMB });
    rec.ratio('heap after the keys expired - before they were set (MB)', expired.heapMB - after.heapMB, { text: 'no growth (< 5 MB)', met: expired.heapMB - after.heapMB < 5 }, ' MB');
  } finally {
    await app.close();
  }
}
