/**
 * rate-limit: how closely a per-type rate limit is kept, ours (rateLimit on
 * @TaskHandler, memory, SQLite and Redis backends) beside BullMQ's Worker
 * limiter with the same numbers, in the same run: 20 starts per 200 ms
 * (100/s), 400 no-op tasks loaded before the workers start. Reported: the
 * most starts in any 200 ms window aligned on the epoch (the limit's own
 * windows for ours; BullMQ counts from its first job, so it may put up to
 * twice the limit in an aligned window) and the achieved rate against the limit.
 */
import { Queue, Worker } from 'bullmq';
import { MemoryQueueService, type PushTaskInput, TaskQueue, WorkerPoolService } from 'nestjs-queue-scheduler';
import { boot, LimitedHandlers, sink } from './lib/app';
import { dropPrefix, redisBackend } from './lib/redis';
import type { Recorder } from './lib/result';
import { createTestDatabase, REDIS, uniqueName } from './lib/servers';

const MAX = 20;
const PER_MS = 200;
const TASKS = Number(process.env.BENCH_RATE_TASKS ?? 400);

interface Outcome {
  maxPerWindow: number;
  rate: number;
}

function outcome(starts: number[]): Outcome {
  const windows = new Map<number, number>();
  for (const at of starts) windows.set(Math.floor(at / PER_MS), (windows.get(Math.floor(at / PER_MS)) ?? 0) + 1);
  const sorted = [...starts].sort((a, b) => a - b);
  // from the first start to the last, per second: the limit allows (TASKS - MAX) more starts after the first window
  const spanS = (sorted.at(-1)! - sorted[0]) / 1000;
  return { maxPerWindow: Math.max(...windows.values()), rate: (starts.length - MAX) / spanS };
}

async function ours(queueOptions: object, db?: Awaited<ReturnType<typeof createTestDatabase>>): Promise<Outcome> {
  const app = await boot({ db: db?.options, options: { autoStart: false, workers: { concurrency: 50 }, queue: queueOptions as never }, providers: [LimitedHandlers] });
  const starts: number[] = [];
  try {
    sink.run = () => void starts.push(Date.now());
    const queue = app.get(TaskQueue);
    const inputs = Array.from({ length: TASKS }, (): PushTaskInput => ({ type: 'limited' }));
    if (queue instanceof MemoryQueueService) queue.pushTasks(inputs);
    else for (let i = 0; i < TASKS; i += 100) await queue.pushTasks(inputs.slice(i, i + 100));
    app.get(WorkerPoolService).start();
    while (starts.length < TASKS) await new Promise((resolve) => setTimeout(resolve, 20));
    return outcome(starts);
  } finally {
    sink.run = () => undefined;
    await app.close();
  }
}

async function bullmq(): Promise<Outcome> {
  const name = uniqueName('rate');
  const queue = new Queue(name, { connection: REDIS });
  const starts: number[] = [];
  try {
    for (let i = 0; i < TASKS; i += 100) await queue.addBulk(Array.from({ length: 100 }, () => ({ name: 'limited', data: {}, opts: { removeOnComplete: true } })));
    let done!: () => void;
    const all = new Promise<void>((resolve) => (done = resolve));
    const worker = new Worker(name, async () => void (starts.push(Date.now()) === TASKS && done()), { connection: REDIS, concurrency: 50, limiter: { max: MAX, duration: PER_MS } });
    await all;
    await worker.close();
    return outcome(starts);
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

export async function run(rec: Recorder): Promise<void> {
  rec.settings.limit = `${MAX} per ${PER_MS} ms (${(MAX * 1000) / PER_MS}/s)`;
  rec.settings.tasks = TASKS;
  rec.settings.concurrency = 50;
  const limitRate = (MAX * 1000) / PER_MS;
  const row = (subject: string, o: Outcome): void => {
    rec.row({ case: `${MAX} per ${PER_MS} ms, ${TASKS} tasks`, subject, metric: 'most starts in an aligned window', unit: 'tasks', value: o.maxPerWindow });
    rec.row({ case: `${MAX} per ${PER_MS} ms, ${TASKS} tasks`, subject, metric: 'rate achieved', unit: 'tasks/s', value: o.rate });
  };
  const memory = await ours({ backend: 'memory' });
  row('nestjs-queue-scheduler, memory', memory);
  const sqlite = await createTestDatabase('sqlite');
  let onSqlite: Outcome;
  try {
    onSqlite = await ours({ backend: 'database', pollIntervalMs: 100 }, sqlite);
  } finally {
    await sqlite.drop();
  }
  row('nestjs-queue-scheduler, SQLite', onSqlite);
  const prefix = uniqueName('rate-redis');
  let onRedis: Outcome;
  try {
    onRedis = await ours(redisBackend(prefix) as object);
  } finally {
    await dropPrefix(prefix, REDIS);
  }
  row('nestjs-queue-scheduler, redis backend', onRedis);
  const bull = await bullmq();
  row('BullMQ limiter', bull);
  for (const [what, o] of [['memory', memory], ['SQLite', onSqlite], ['redis backend', onRedis], ['BullMQ', bull]] as const) {
    rec.ratio(`${what}: most starts in a window / the limit`, o.maxPerWindow / MAX, what === 'BullMQ' ? undefined : { text: '≤ 1', met: o.maxPerWindow <= MAX });
    rec.ratio(`${what}: rate achieved / the limit`, o.rate / limitRate);
  }
}
