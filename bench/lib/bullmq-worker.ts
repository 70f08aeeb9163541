/**
 * BullMQ's own Worker in a process of its own, the baseline for the redis
 * backend's durable drains, whose workers run in app processes
 * (test/support/app-process.ts): a Worker in the benchmark process shares
 * nothing with a producer there but also pays no second process's share of
 * the two cores, which made the old ratio compare unlike set-ups.
 *
 * The parent side (`bullmqProcessDrain`) mirrors RedisRig.drain: the jobs are
 * added while the queue is paused, the worker process is started through
 * `node -r @swc-node/register` as startInstance starts ours, and the queue is
 * resumed once it prints `ready`. The rate is over the middle 90% of the
 * jobs' `finishedOn`, the timestamp our rig reads from the completed set:
 * BullMQ's jobs are removed on completion here (as in the in-process row), so
 * the worker process collects them from its `completed` events and prints
 * them once it has seen `n`.
 *
 * As the child (run as a script): QS_BULL_QUEUE, QS_BULL_CONCURRENCY and
 * QS_BULL_N from the environment, Redis from servers.ts's REDIS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import type { Instance } from '../../test/support/processes';
import { instanceOf, stopAll, waitReady } from '../../test/support/processes';
import { waitFor } from '../../test/support/wait-for';
import { middleRate, middleWindow } from './durable';
import { REDIS, uniqueName } from './servers';

const ROOT = join(__dirname, '..', '..');

/** The same job options as the in-process BullMQ drain of durable-drain.ts. */
export const BULLMQ_JOB = { name: 'noop', data: {}, opts: { removeOnComplete: true } };

/**
 * The job options our redis backend gives BullMQ at the default
 * `queue.retentionDays` (30): finished jobs kept 30 days. Issue 20 compares
 * the redis backend with BullMQ "at the same durability settings", so its
 * ratios divide by BullMQ run with these; `removeOnComplete: true` (the
 * earlier baseline, and that of the memory and database targets) keeps nothing.
 */
export const KEPT_AS_OURS = { removeOnComplete: { age: 30 * 86_400 }, removeOnFail: { age: 30 * 86_400 } };

function startWorkerProcess(queue: string, concurrency: number, n: number): Instance {
  const child: ChildProcess = spawn(process.execPath, ['-r', '@swc-node/register', __filename], {
    cwd: ROOT,
    env: { ...process.env, QS_BULL_QUEUE: queue, QS_BULL_CONCURRENCY: String(concurrency), QS_BULL_N: String(n), SWC_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return instanceOf(child);
}

/** `n` no-op jobs (job options `opts`) drained by BullMQ's Worker at `concurrency` in one worker process; tasks/s over the middle 90% and that window. */
export async function bullmqProcessDrain(n: number, concurrency: number, opts: object = BULLMQ_JOB.opts): Promise<{ rate: number; window: [number, number] }> {
  const name = uniqueName('durable_proc');
  const queue = new Queue(name, { connection: REDIS });
  let instances: Instance[] = [];
  try {
    await queue.pause();
    for (let i = 0; i < n; i += 1000) await queue.addBulk(Array.from({ length: Math.min(1000, n - i) }, () => ({ ...BULLMQ_JOB, opts })));
    instances = [startWorkerProcess(name, concurrency, n)];
    await waitReady(instances, 60_000);
    await queue.resume();
    const [worker] = instances;
    let drained: Record<string, unknown> | undefined;
    await waitFor(
      () => {
        if (worker.child.exitCode !== null) throw new Error(`BullMQ worker process exited: ${worker.stderr.join('\n')}`);
        return Boolean((drained = worker.lines.find((l) => l.event === 'drained')));
      },
      `${n} BullMQ jobs completed`,
      600_000,
      200,
    );
    const finishedOn = drained!.finishedOn as number[];
    return { rate: middleRate(finishedOn), window: middleWindow(finishedOn) };
  } finally {
    await stopAll(instances);
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

async function child(): Promise<void> {
  const n = Number(process.env.QS_BULL_N);
  const finishedOn: number[] = [];
  const worker = new Worker(process.env.QS_BULL_QUEUE!, async () => undefined, { connection: REDIS, concurrency: Number(process.env.QS_BULL_CONCURRENCY) });
  worker.on('completed', (job) => {
    finishedOn.push(job.finishedOn ?? Date.now());
    if (finishedOn.length === n) process.stdout.write(`${JSON.stringify({ event: 'drained', finishedOn })}\n`);
  });
  worker.on('error', (err) => process.stderr.write(`${err.stack}\n`));
  process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)));
  await worker.waitUntilReady();
  process.stdout.write(`${JSON.stringify({ event: 'ready', pid: process.pid })}\n`);
}

if (require.main === module) {
  child().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}
