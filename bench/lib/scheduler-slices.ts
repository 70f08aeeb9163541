/**
 * The scheduler's synchronous slices on SQLite, measured from outside the
 * library (bench only): better-sqlite3 runs every statement on the event
 * loop's thread and TypeORM's promises around it settle in microtasks, so a
 * claim (due scan, plan, UPDATE, pushes into the memory queue) holds the loop
 * from its first statement to the loop's next `await` of a real turn. A slice
 * opens at the scheduler's first mark in a macrotask and closes at the next
 * check phase (setImmediate); its length is first mark to last mark. Nothing
 * else runs between two marks of one slice: they belong to one microtask chain.
 */
import type { INestApplicationContext } from '@nestjs/common';
import { SchedulerService } from 'nestjs-queue-scheduler';
import { openSync, readSync } from 'node:fs';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import type { DataSource } from 'typeorm';

type Piece = 'earliest' | 'due scan' | 'claim update' | 'other sql' | 'push' | 'gc' | 'js';
const PIECES: Piece[] = ['earliest', 'due scan', 'claim update', 'other sql', 'push', 'gc', 'js'];

interface Slice {
  start: number;
  end: number;
  /** Process CPU time (user + system, µs) at the first and last mark: a slice the OS descheduled is longer in wall time only. */
  cpuStart: number;
  cpuEnd: number;
  /** This thread's time runnable but not running (µs, /proc/thread-self/schedstat) at the first and last mark. */
  waitStart: number;
  waitEnd: number;
  /** When cpuEnd and waitEnd were last read (see READ_EVERY_MS). */
  readAt: number;
  pieces: Record<Piece, number>;
}

/**
 * Marks closer than this to the last reading share it. Reading the CPU time (getrusage) and the run-queue wait
 * (a read of /proc) at every mark, two per push, cost ~30 µs per occurrence here and ran inside the slices measured:
 * most of a claim slice's "js" was this probe. Between readings the slice is conservative: the wait after the
 * last reading is not subtracted (held reads at most READ_EVERY_MS long), and the CPU time after it counts as the
 * wall time it took (an upper bound of one thread's CPU).
 */
const READ_EVERY_MS = 0.25;

export interface SliceReport {
  slices: number;
  max: number;
  p99: number;
  over5: number;
  median: number;
  /** The longest slice with no GC pause starting in it, ms: the scheduler's own work, GC (of everyone's garbage) left out. */
  maxWithoutGc: number;
  /** The most CPU time one slice used, ms (the process's, other threads included): the slice's length with the OS's descheduling left out. */
  maxCpu: number;
  /** The longest slice's CPU time, ms. */
  longestCpu: number;
  /**
   * The slices with the time the OS kept this thread waiting for a core left out (Linux; elsewhere the
   * wall-clock figures again): what the scheduler held the loop for, its I/O waits included, on a machine
   * shared with other work. With a checkpoint thread, `maxCpu` counts that thread too; these do not.
   */
  held: { max: number; p99: number; over5: number };
  /** Handlers that started between the longest slice's first and last mark (in the same microtask drain). */
  handlersInLongest: number;
  /** Collections during the window by kind: count and longest pause, ms. */
  gc: Record<string, { count: number; max: number }>;
  /** The longest slice's make-up, ms ('gc': pauses that started within it, overlapping the others; 'js': the rest besides gc). */
  longest: Record<Piece, number>;
  /** The longest single piece of each kind over all slices, ms. */
  longestPiece: Record<Piece, number>;
}

/** perf_hooks' gc entry kinds (NODE_PERFORMANCE_GC_*). */
const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weak callbacks' };

/**
 * This thread's time waiting on a run queue, µs; 0 where /proc/thread-self/schedstat is missing. Read
 * into one buffer and parsed by hand: a readFileSync and split per mark made a tenth of the process's
 * garbage at 10,000 schedules, and the GC pauses it adds land in the slices measured.
 */
const schedstat = (() => {
  try {
    return openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    return -1;
  }
})();
const statBuf = Buffer.alloc(96);
function runQueueWait(): number {
  if (schedstat < 0) return 0;
  const n = readSync(schedstat, statBuf, 0, statBuf.length, 0);
  let i = statBuf.indexOf(32) + 1;
  let ns = 0;
  for (; i < n && statBuf[i] !== 32; i++) ns = ns * 10 + statBuf[i] - 48;
  return ns / 1000;
}

const zero = (): Record<Piece, number> => Object.fromEntries(PIECES.map((p) => [p, 0])) as Record<Piece, number>;

function kindOf(sql: string): Piece {
  if (sql.startsWith('SELECT next_run_at AS n')) return 'earliest';
  if (sql.startsWith('SELECT task_id,')) return 'due scan';
  if (sql.startsWith('UPDATE scheduler_task')) return 'claim update';
  return 'other sql';
}

/** Wraps the scheduler's statements, its claim and the queue's pushes in `app`; `stop()` unwraps and reports. */
export function watchSchedulerSlices(app: INestApplicationContext, ds: DataSource): { stop(): SliceReport; handlerStarted(): void } {
  const done: Slice[] = [];
  /** When the app's handlers ran: one inside a slice ran in the scheduler's microtask drain, not the scheduler's work. */
  const handlers: number[] = [];
  const longestPiece = zero();
  let open: Slice | undefined;
  let enabled = true;
  const cpuNow = (): number => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  const mark = (t: number): Slice => {
    if (!open) {
      const c = cpuNow();
      const w = runQueueWait();
      open = { start: t, end: t, cpuStart: c, cpuEnd: c, waitStart: w, waitEnd: w, readAt: t, pieces: zero() };
      const s = open;
      setImmediate(() => {
        if (open === s) open = undefined;
        s.cpuEnd += (s.end - s.readAt) * 1000;
        if (enabled) done.push(s);
      });
    }
    if (t > open.end) {
      open.end = t;
      if (t - open.readAt >= READ_EVERY_MS) {
        open.readAt = t;
        open.cpuEnd = cpuNow();
        open.waitEnd = runQueueWait();
      }
    }
    return open;
  };
  const add = (slice: Slice, piece: Piece, ms: number): void => {
    slice.pieces[piece] += ms;
    if (ms > longestPiece[piece]) longestPiece[piece] = ms;
  };
  const gcs: Array<{ start: number; end: number; kind: string }> = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = GC_KINDS[((e as unknown as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind ?? 0] ?? 'other';
      gcs.push({ start: e.startTime, end: e.startTime + e.duration, kind });
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const restores: Array<() => void> = [];
  const wrap = <T extends object>(target: T, name: string, around: (orig: (...a: unknown[]) => unknown, self: unknown, args: unknown[]) => unknown): void => {
    const own = Object.prototype.hasOwnProperty.call(target, name);
    const orig = (target as Record<string, unknown>)[name] as (...a: unknown[]) => unknown;
    (target as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
      return around(orig, this, args);
    };
    restores.push(() => (own ? ((target as Record<string, unknown>)[name] = orig) : delete (target as Record<string, unknown>)[name]));
  };
  // every statement of this connection is the scheduler's: the memory queue does not use it
  const db = (ds.driver as unknown as { databaseConnection: { prepare(sql: string): object } }).databaseConnection;
  const stmtProto = Object.getPrototypeOf(db.prepare('SELECT 1')) as object;
  for (const name of ['all', 'get', 'run']) {
    wrap(stmtProto, name, (orig, self, args) => {
      const t0 = performance.now();
      try {
        return orig.apply(self, args);
      } finally {
        const t1 = performance.now();
        const slice = mark(t0);
        mark(t1);
        add(slice, kindOf((self as { source: string }).source), t1 - t0);
      }
    });
  }
  const loop = (app.get(SchedulerService) as unknown as { loop: { claimBatch: unknown; firing: { consumer: object } } }).loop;
  wrap(loop, 'claimBatch', (orig, self, args) => {
    mark(performance.now());
    const p = orig.apply(self, args) as Promise<unknown>;
    return p.finally(() => mark(performance.now()));
  });
  wrap(loop.firing.consumer, 'pushTask', (orig, self, args) => {
    const t0 = performance.now();
    try {
      return orig.apply(self, args);
    } finally {
      const t1 = performance.now();
      add(mark(t0), 'push', t1 - t0);
      mark(t1);
    }
  });
  return {
    handlerStarted: () => void handlers.push(performance.now()),
    stop(): SliceReport {
      enabled = false;
      gcObserver.disconnect();
      for (const r of restores.reverse()) r();
      // BENCH_SLICE_DUMP=<ms>: every slice longer than that, with its offset in the second, its place in the
      // second's burst of claims (0: the first), its pieces, the process's CPU, this thread's run-queue wait, GC pauses
      const dumpOver = Number(process.env.BENCH_SLICE_DUMP);
      if (process.env.BENCH_SLICE_DUMP !== undefined && Number.isFinite(dumpOver)) {
        let place = 0;
        let prevEnd = -Infinity;
        for (const s of done) {
          place = s.start - prevEnd > 100 ? 0 : place + 1;
          prevEnd = s.end;
          if (s.end - s.start <= dumpOver) continue;
          const pieces = Object.fromEntries(Object.entries(s.pieces).map(([k, v]) => [k, Math.round(v * 100) / 100]));
          const inGc = gcs.filter((g) => g.start >= s.start && g.start < s.end).map((g) => (g.end - g.start).toFixed(1));
          const at = ((performance.timeOrigin + s.start) % 1000).toFixed(0);
          const cpu = ((s.cpuEnd - s.cpuStart) / 1000).toFixed(2);
          const wait = ((s.waitEnd - s.waitStart) / 1000).toFixed(2);
          console.log(`slice at .${at} place ${place} length ${(s.end - s.start).toFixed(2)} ms cpu ${cpu} wait ${wait} ${JSON.stringify(pieces)} gc [${inGc.join(', ')}]`);
        }
      }
      const lengths = done.map((s) => s.end - s.start).sort((a, b) => a - b);
      const longest = done.reduce<Slice | undefined>((a, s) => (!a || s.end - s.start > a.end - a.start ? s : a), undefined);
      const pieces = longest ? { ...longest.pieces } : zero();
      if (longest) pieces.gc = gcs.filter((g) => g.start >= longest.start && g.start < longest.end).reduce((a, g) => a + Math.min(g.end, longest.end) - g.start, 0);
      if (longest) pieces.js = longest.end - longest.start - PIECES.filter((p) => p !== 'js' && p !== 'gc').reduce((a, p) => a + pieces[p], 0);
      const held = done.map((s) => Math.max(0, s.end - s.start - (s.waitEnd - s.waitStart) / 1000)).sort((a, b) => a - b);
      const gc: SliceReport['gc'] = {};
      for (const g of gcs) {
        const k = (gc[g.kind] ??= { count: 0, max: 0 });
        k.count++;
        k.max = Math.max(k.max, Math.round((g.end - g.start) * 100) / 100);
      }
      const round = (r: Record<Piece, number>) => Object.fromEntries(PIECES.map((p) => [p, Math.round(r[p] * 100) / 100])) as Record<Piece, number>;
      return {
        slices: lengths.length,
        max: lengths.at(-1) ?? 0,
        p99: lengths[Math.max(0, Math.ceil(0.99 * lengths.length) - 1)] ?? 0,
        maxWithoutGc: done.filter((s) => !gcs.some((g) => g.start >= s.start && g.start < s.end)).reduce((a, s) => Math.max(a, s.end - s.start), 0),
        maxCpu: done.reduce((a, s) => Math.max(a, (s.cpuEnd - s.cpuStart) / 1000), 0),
        longestCpu: longest ? (longest.cpuEnd - longest.cpuStart) / 1000 : 0,
        held: { max: held.at(-1) ?? 0, p99: held[Math.max(0, Math.ceil(0.99 * held.length) - 1)] ?? 0, over5: held.filter((l) => l > 5).length },
        over5: lengths.filter((l) => l > 5).length,
        median: lengths[Math.floor(lengths.length / 2)] ?? 0,
        gc,
        handlersInLongest: longest ? handlers.filter((t) => t >= longest.start && t <= longest.end).length : 0,
        longest: round(pieces),
        longestPiece: round(longestPiece),
      };
    },
  };
}
