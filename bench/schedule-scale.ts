/**
 * schedule-scale: 10k, 100k and 1M interval schedules in MariaDB (inserted
 * with multi-row INSERTs, all due tomorrow): the scheduler's start-up time,
 * memory, the due scan (the loop's indexed query), queries per second while
 * idle and CPU per look at the table. None of these may grow with the count.
 */
import { randomUUID } from 'node:crypto';
import { SchedulerService } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { boot, CountingLogger } from './lib/app';
import type { Recorder } from './lib/result';
import { createTestDatabase } from './lib/servers';
import { latency } from './lib/stats';

const SCALES = (process.env.BENCH_SCALES ?? '10000,100000,1000000').split(',').map(Number);
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 10_000);
const SCANS = 200;
const ROWS_PER_INSERT = 2000;

const gc = (): void => (global as { gc?: () => void }).gc?.();

async function insertSchedules(ds: DataSource, from: number, to: number): Promise<void> {
  const now = Date.now();
  const day = now + 86_400_000;
  for (let i = from; i < to; i += ROWS_PER_INSERT) {
    const values: string[] = [];
    for (let j = i; j < Math.min(to, i + ROWS_PER_INSERT); j++) {
      // spread over an hour tomorrow, so the index has distinct keys as in real use
      values.push(`('${randomUUID()}','s${j}','noop','{}','interval',3600,${day + (j % 3_600_000)},${now},${now})`);
    }
    await ds.query(`INSERT INTO scheduler_task (task_id,name,task_type,params,schedule_type,interval_seconds,next_run_at,created_at,updated_at) VALUES ${values.join(',')}`);
  }
}

export async function run(rec: Recorder): Promise<void> {
  rec.settings.scales = SCALES;
  rec.settings.idleWindowMs = IDLE_MS;
  rec.settings.app = 'memory queue backend, scheduler on MariaDB, scheduler.pollIntervalMs 1000 (default), batchSize 100; queries counted by a TypeORM logger of the app';
  rec.settings.dueScan = "SchedulerService.nextDueAt(): the loop's own first read of each look at the table, the earliest next_run_at (idx_scheduler_task_next_run_at); due rows are then claimed 100 at a time by an indexed range read FOR UPDATE SKIP LOCKED";
  rec.settings.rss = 'this benchmark process after a full GC; the same process grows the table from one scale to the next';
  const db = await createTestDatabase('mariadb');
  try {
    const setup = await boot({ db: db.options, options: { scheduler: { enabled: false }, workers: { enabled: false } } });
    const ds = setup.get(DataSource);
    gc();
    const baseRss = process.memoryUsage().rss;
    rec.row({ case: 'no app', subject: 'bench process', metric: 'RSS', unit: 'MB', value: baseRss / 2 ** 20 });
    let have = 0;
    const perTick: number[] = [];
    const scanP99: number[] = [];
    for (const scale of SCALES) {
      const t0 = performance.now();
      await insertSchedules(ds, have, scale);
      have = scale;
      const label = `${scale.toLocaleString('en-US')} schedules`;
      rec.notes.push(`${label}: inserted in ${Math.round((performance.now() - t0) / 1000)} s`);
      const logger = new CountingLogger();
      const b0 = performance.now();
      const app = await boot({ db: db.options, options: { workers: { concurrency: 4 } }, logger, synchronize: false });
      rec.row({ case: label, subject: 'nestjs-queue-scheduler', metric: 'start-up (boot to ready)', unit: 'ms', value: performance.now() - b0 });
      try {
        // the read every look of the loop at the table starts with, through the library's own code (raw SQL, one index entry)
        const scheduler = app.get(SchedulerService);
        const scans: number[] = [];
        for (let i = 0; i < SCANS; i++) {
          const s0 = performance.now();
          await scheduler.nextDueAt();
          scans.push(performance.now() - s0);
        }
        const scan = latency(scans);
        rec.row({ case: label, subject: 'nestjs-queue-scheduler', metric: 'due scan p50', unit: 'ms', value: scan.p50 });
        rec.row({ case: label, subject: 'nestjs-queue-scheduler', metric: 'due scan p99', unit: 'ms', value: scan.p99 });
        scanP99.push(scan.p99);
        gc();
        const q0 = logger.queries;
        const c0 = process.cpuUsage();
        const selects0 = logger.byKind.get('SELECT') ?? 0;
        await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
        const cpu = process.cpuUsage(c0);
        const queries = logger.queries - q0;
        const ticks = Math.max(1, (logger.byKind.get('SELECT') ?? 0) - selects0);
        rec.row({ case: label, subject: 'nestjs-queue-scheduler', metric: 'idle queries', unit: 'queries/s', value: queries / (IDLE_MS / 1000) });
        rec.row({ case: label, subject: 'nestjs-queue-scheduler', metric: 'CPU per tick (idle look at the table)', unit: 'ms', value: (cpu.user + cpu.system) / 1000 / ticks });
        perTick.push((cpu.user + cpu.system) / 1000 / ticks);
        gc();
        const mem = process.memoryUsage();
        rec.row({ case: label, subject: 'nestjs-queue-scheduler', metric: 'RSS', unit: 'MB', value: mem.rss / 2 ** 20 });
        // the bench process itself (swc's compiler, TypeORM, a second app) is most of the RSS: the app's share is the difference
        rec.row({ case: label, subject: 'nestjs-queue-scheduler', metric: 'RSS over the process before the app', unit: 'MB', value: (mem.rss - baseRss) / 2 ** 20 });
        rec.row({ case: label, subject: 'nestjs-queue-scheduler', metric: 'heap used', unit: 'MB', value: mem.heapUsed / 2 ** 20 });
      } finally {
        await app.close();
      }
    }
    await setup.close();
    const rows = rec.rows;
    const at = (scale: number, metric: string): number => rows.find((r) => r.case.startsWith(scale.toLocaleString('en-US')) && r.metric === metric)?.value ?? NaN;
    const top = SCALES[SCALES.length - 1];
    rec.ratio(`due scan p99 at ${top.toLocaleString('en-US')} (ms)`, at(top, 'due scan p99'), { text: '< 10 ms', met: at(top, 'due scan p99') < 10 }, ' ms');
    rec.ratio(`due scan p99, ${top.toLocaleString('en-US')} / ${SCALES[0].toLocaleString('en-US')} schedules`, scanP99[scanP99.length - 1] / scanP99[0]);
    rec.ratio(`CPU per tick, ${top.toLocaleString('en-US')} / ${SCALES[0].toLocaleString('en-US')} schedules`, perTick[perTick.length - 1] / perTick[0], { text: 'flat (≤ 1.5)', met: perTick[perTick.length - 1] / perTick[0] <= 1.5 });
    const idle = Math.max(...SCALES.map((s) => at(s, 'idle queries')));
    rec.ratio('idle queries per second, worst scale', idle, { text: '≤ 2', met: idle <= 2 }, ' queries/s');
    const rss100k = at(100_000, 'RSS over the process before the app');
    if (Number.isFinite(rss100k)) rec.ratio('RSS added by the scheduler app at 100,000 schedules (MB)', rss100k, { text: '< 100 MB', met: rss100k < 100 }, ' MB');
  } finally {
    await db.drop();
  }
}
