/**
 * flow: one parent over N no-op children (10,000), pushed in one call and drained at
 * concurrency 100 in the benchmark process, until the parent's handler runs.
 * Ours: `pushFlow` on the memory backend, the database backend on SQLite (WAL),
 * MariaDB and PostgreSQL, and the redis backend when it takes flows; beside
 * BullMQ's `FlowProducer.add` with a Worker on the local Redis, in the same run.
 * Two figures per repeat: the push (the call until it resolves: one transaction
 * or one MULTI for the whole tree) and the drain (from the push's start until
 * the parent's handler runs, so a drain that starts during the push counts).
 */
import { FlowProducer, Queue, Worker } from 'bullmq';
import { type FlowInput, NotSupportedError, type QueueSchedulerModuleOptions, TaskQueue, WorkerPoolService } from 'nestjs-queue-scheduler';
import { boot, sink } from './lib/app';
import { dropPrefix, redisBackend } from './lib/redis';
import type { Recorder } from './lib/result';
import { createTestDatabase, type DatabaseKind, REDIS, uniqueName } from './lib/servers';
import { repeat } from './lib/stats';

const CHILDREN = Number(process.env.BENCH_FLOW_CHILDREN ?? 10_000);
const CONCURRENCY = 100;
const REPEATS = Number(process.env.BENCH_FLOW_REPEATS ?? 3);

interface Timing {
  pushMs: number;
  drainMs: number;
}

/** Resolves when the parent's handler runs, after counting that every child ran first. */
function parentRun(): { children: () => void; parent: () => void; done: Promise<number> } {
  let ran = 0;
  let resolve!: (at: number) => void;
  let reject!: (err: Error) => void;
  const done = new Promise<number>((res, rej) => ((resolve = res), (reject = rej)));
  return {
    children: () => void ran++,
    parent: () => (ran === CHILDREN ? resolve(performance.now()) : reject(new Error(`the parent ran after ${ran} of ${CHILDREN} children`))),
    done,
  };
}

const tree = (): FlowInput => ({ type: 'noop', params: { root: true }, children: Array.from({ length: CHILDREN }, () => ({ type: 'noop', params: {} })) });

/** One app per subject, `repeats` flows one after another; the repeats' medians and ranges. */
async function ours(options: QueueSchedulerModuleOptions, db?: Parameters<typeof boot>[0]['db'], repeats = REPEATS): Promise<{ push: Awaited<ReturnType<typeof repeat>>; drain: Awaited<ReturnType<typeof repeat>> }> {
  const app = await boot({ db, options: { ...options, workers: { concurrency: CONCURRENCY }, scheduler: { enabled: false } } });
  const queue = app.get(TaskQueue);
  const timings: Timing[] = [];
  try {
    await repeat(repeats, async () => {
      const run = parentRun();
      sink.run = (params) => ((params as { root?: boolean }).root ? run.parent() : run.children());
      const t0 = performance.now();
      // the memory backend pushes synchronously and its workers may drain the whole tree inside an `await`: read the clock first
      const out = queue.pushFlow(tree());
      let pushed = out instanceof Promise ? undefined : performance.now();
      const ids = await out;
      pushed ??= performance.now();
      const at = await run.done;
      // the parent's record too: the flow is over before the next repeat pushes
      await queue.onTaskFinished(ids.taskId, { timeoutMs: 60_000 });
      timings.push({ pushMs: pushed - t0, drainMs: at - t0 });
      return 0;
    });
  } finally {
    await app.get(WorkerPoolService).stop();
    await app.close();
  }
  return summaries(timings);
}

async function summaries(timings: Timing[]): Promise<{ push: Awaited<ReturnType<typeof repeat>>; drain: Awaited<ReturnType<typeof repeat>> }> {
  return {
    push: await repeat(timings.length, async (i) => timings[i].pushMs),
    drain: await repeat(timings.length, async (i) => timings[i].drainMs),
  };
}

/** BullMQ as its docs build a flow: `FlowProducer.add` of the whole tree, one Worker on the queue draining. */
async function bullmq(): ReturnType<typeof ours> {
  const timings: Timing[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const name = uniqueName('flow');
    const producer = new FlowProducer({ connection: REDIS });
    const queue = new Queue(name, { connection: REDIS });
    const run = parentRun();
    const worker = new Worker(name, async (job) => (job.name === 'parent' ? run.parent() : run.children()), { connection: REDIS, concurrency: CONCURRENCY });
    await worker.waitUntilReady();
    try {
      const t0 = performance.now();
      await producer.add({ name: 'parent', queueName: name, data: {}, children: Array.from({ length: CHILDREN }, () => ({ name: 'noop', queueName: name, data: {} })) });
      const pushed = performance.now();
      timings.push({ pushMs: pushed - t0, drainMs: (await run.done) - t0 });
    } finally {
      await worker.close();
      await producer.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  }
  return summaries(timings);
}

export async function run(rec: Recorder): Promise<void> {
  rec.settings.flow = { children: CHILDREN, tasks: CHILDREN + 1, concurrency: CONCURRENCY, repeats: REPEATS, params: '{}' };
  rec.settings.timing =
    'push: the pushFlow / FlowProducer.add call until it resolves; drain: from the push’s start until the parent’s handler runs (children counted first), workers running in the benchmark process from before the push';
  const push: Record<string, number> = {};
  const drain: Record<string, number> = {};
  const rows = (subject: string, r: Awaited<ReturnType<typeof ours>>): void => {
    rec.row({ case: `1 parent, ${CHILDREN.toLocaleString('en-US')} children`, subject, metric: 'push', unit: 'ms', value: r.push.median, range: [r.push.min, r.push.max], repeats: r.push.n });
    rec.row({ case: `1 parent, ${CHILDREN.toLocaleString('en-US')} children`, subject, metric: 'push + drain until the parent ran', unit: 'ms', value: r.drain.median, range: [r.drain.min, r.drain.max], repeats: r.drain.n });
    push[subject] = r.push.median;
    drain[subject] = r.drain.median;
  };
  const BULL = 'BullMQ FlowProducer (Redis)';
  rows(BULL, await bullmq());
  rows('nestjs-queue-scheduler, memory', await ours({}));
  for (const kind of ['sqlite', 'mariadb', 'postgres'] as DatabaseKind[]) {
    const db = await createTestDatabase(kind);
    if (kind === 'sqlite') Object.assign(db.options, { enableWAL: true });
    try {
      rows(`nestjs-queue-scheduler, database (${kind})`, await ours({ queue: { backend: 'database', pollIntervalMs: 100 } }, db.options));
    } finally {
      await db.drop();
    }
  }
  const prefix = uniqueName('flow-redis');
  try {
    rows('nestjs-queue-scheduler, redis', await ours({ queue: redisBackend(prefix, { pollIntervalMs: 100 }) }));
  } catch (err) {
    if (!(err instanceof NotSupportedError)) throw err;
    rec.notes.push(`The redis backend is left out: ${err.message} (this build).`);
    process.stderr.write(`  redis backend left out: ${err.message}\n`);
  } finally {
    await dropPrefix(prefix);
  }
  for (const subject of Object.keys(push).filter((s) => s !== BULL)) {
    // as the other benchmarks' ratios read: above 1 is ours ahead
    rec.ratio(`${subject}: push, BullMQ's time / ours`, push[BULL] / push[subject]);
    rec.ratio(`${subject}: push + drain until the parent ran, BullMQ's time / ours`, drain[BULL] / drain[subject]);
  }
}
