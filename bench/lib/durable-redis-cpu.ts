/**
 * The CPU side of durable-drain's "redis backend / BullMQ" rows, behind
 * docs/perf-notes-issue20-redis.md: drains `n` no-op tasks at `concurrency`
 * with BullMQ's Worker in a worker process of its own, then with our redis
 * backend in one worker process (both as durable-drain runs them), and prints
 * per task, over each drain's middle-90% window (the span its rate covers):
 * the worker process's CPU (utime + stime of the benchmark's child processes,
 * /proc/<pid>/stat, Linux only), Redis's CPU (INFO cpu) and Redis's command
 * time by command (INFO commandstats; server-wide, so other clients of the
 * server show up in both). Sampled every 20 ms and interpolated at the
 * window's ends; a share of the 10 ms clock ticks is the resolution, so use
 * 20,000 tasks or more at concurrency 100.
 *   node -r @swc-node/register bench/lib/durable-redis-cpu.ts [concurrency=100] [n=20000]
 */
import 'reflect-metadata';
import { readdirSync, readFileSync } from 'node:fs';
import IORedis from 'ioredis';
import { bullmqProcessDrain } from './bullmq-worker';
import { RedisRig } from './redis';
import { REDIS } from './servers';

/** Milliseconds of CPU per clock tick of /proc/<pid>/stat (USER_HZ is 100 on Linux). */
const TICK_MS = 10;

interface Sample {
  at: number;
  /** Children's CPU (ms) by pid. */
  children: Map<number, number>;
  /** Redis's used_cpu_user + used_cpu_sys (ms). */
  redisCpu: number;
  /** usec by command. */
  commands: Record<string, number>;
}

function childCpu(): Map<number, number> {
  const out = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === process.pid) out.set(Number(d), (Number(f[11]) + Number(f[12])) * TICK_MS);
    } catch {
      // exited between the listing and the read
    }
  }
  return out;
}

async function sample(redis: IORedis): Promise<Sample> {
  const [cpu, stats] = await Promise.all([redis.info('cpu'), redis.info('commandstats')]);
  const num = (key: string): number => Number(new RegExp(`${key}:([\\d.]+)`).exec(cpu)?.[1] ?? 0);
  const commands: Record<string, number> = {};
  for (const m of stats.matchAll(/cmdstat_(\S+?):calls=\d+,usec=(\d+)/g)) if (m[1] !== 'info') commands[m[1]] = Number(m[2]);
  return { at: Date.now(), children: childCpu(), redisCpu: (num('used_cpu_user') + num('used_cpu_sys')) * 1000, commands };
}

/** `value` linearly interpolated at `t` over the samples (held flat past either end). */
function at(samples: Sample[], t: number, value: (s: Sample) => number): number {
  const i = samples.findIndex((s) => s.at >= t);
  if (i < 0) return value(samples[samples.length - 1]);
  if (i === 0) return value(samples[0]);
  const [a, b] = [samples[i - 1], samples[i]];
  return value(a) + ((value(b) - value(a)) * (t - a.at)) / Math.max(1, b.at - a.at);
}

function perTask(samples: Sample[], [from, to]: [number, number], tasks: number): Record<string, unknown> {
  const delta = (value: (s: Sample) => number): number => (at(samples, to, value) - at(samples, from, value)) / tasks;
  // a child that exited keeps its last value in later samples only if it was seen: carry each pid's last known CPU
  const pids = new Set(samples.flatMap((s) => [...s.children.keys()]));
  let worker = 0;
  for (const pid of pids) {
    const seen = samples.filter((s) => s.children.has(pid));
    worker += delta((s) => s.children.get(pid) ?? (s.at < seen[0].at ? seen[0].children.get(pid)! : seen[seen.length - 1].children.get(pid)!));
  }
  const commands: Record<string, number> = {};
  for (const name of Object.keys(samples[samples.length - 1].commands)) {
    const us = delta((s) => s.commands[name] ?? 0);
    if (us >= 0.05) commands[name] = Math.round(us * 10) / 10;
  }
  return { workerCpuUs: Math.round(worker * 10000) / 10, redisCpuUs: Math.round(delta((s) => s.redisCpu) * 10000) / 10, redisCommandUs: commands };
}

async function main(): Promise<void> {
  const concurrency = Number(process.argv[2] ?? 100);
  const n = Number(process.argv[3] ?? 20_000);
  const redis = new IORedis({ ...REDIS });
  const samples: Sample[] = [];
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void sample(redis).then((s) => ((busy = false), samples.push(s)));
  }, 20);
  const rig = await RedisRig.open();
  try {
    const bull = await bullmqProcessDrain(n, concurrency);
    const ours = await rig.drain(n, 1, concurrency);
    samples.push(await sample(redis));
    const tasks = 0.9 * n;
    process.stdout.write(
      `${JSON.stringify(
        {
          concurrency,
          tasks: n,
          bullmq: { rate: Math.round(bull.rate), ...perTask(samples, bull.window, tasks) },
          ours: { rate: Math.round(ours.rate), ...perTask(samples, ours.window!, tasks) },
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    clearInterval(timer);
    await rig.close();
    redis.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
