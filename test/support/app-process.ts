/**
 * One app instance in a child process: the only script the suites
 * (`test/`, `test/reliability/`) and the benchmarks start, through
 * `startInstance` in processes.ts. It boots a Nest application context on
 * TypeORM and QueueSchedulerModule, prints one JSON line per event the
 * parent counts (`{"event":"ready"}` once up), and closes cleanly on SIGTERM.
 *
 * It imports packages only, so processes.ts can also compile it and run it on
 * plain `node` against the library's built dist (the benchmarks' idle instance).
 *
 * The environment, read once here:
 * - QS_DB: TypeORM options (JSON), over `autoLoadEntities: true, synchronize: false, logging: false`
 *   (pass `synchronize: true, retryAttempts: 0` for the schema-synchronisation suites).
 * - QS_OPTIONS: the module options (JSON), over the app's defaults below.
 * - QS_APP: which app, see APPS: `workers` (default), `ledger`, `scheduled`, `singleton` or `bare`.
 * - QS_BOOT_ON_SIGUSR2=1: prints `loaded`, then boots when SIGUSR2 arrives, so several processes boot at one moment.
 * - QS_START_ON_STDIN=1 (with autoStart: false): the workers start when a line arrives on stdin.
 * - QS_HOLD_MS (`workers`): the `lossy` handler holds its task this long (a process that is to be killed).
 * - QS_RATE (`workers`): the `limited` handler's rate limit (JSON, default 10 per second; `off`: none, so a
 *   benchmark's drain pays no permit round for a type it never pushes).
 * - QS_RETRIES (`ledger`): the `work` handler's retry policy (JSON, default one attempt).
 * - QS_PRODUCE=n (`ledger`): pushes n `work` tasks one by one, printing each resolved push.
 * - QS_SCHEDULE_EVENTS=1 (`ledger`): prints the scheduler's `fired` and `skipped` events (the overlap suite counts them).
 * - QS_VARIANT (`scheduled`): '1' or '2', the set of @Scheduled declarations.
 * - QS_SINGLETON_PUSHES=n (`singleton`): how many pushes share the key `shared` (see SINGLETON_PUSHES).
 * - QS_TRACED_PUSHES=n (`traced`): pushes n `traced-ok` tasks once up, printing their ids.
 * - `events`: the workers' handlers, and a clusterEvents$ subscriber driven by lines on stdin (see countClusterEvents).
 */
import 'reflect-metadata';
import { Injectable, type LoggerService, type LogLevel, Module, type Provider } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  QueueSchedulerModule,
  type QueueSchedulerModuleOptions,
  type RetryPolicy,
  Scheduled,
  type ScheduledOptions,
  SchedulerService,
  TaskContext,
  TaskHandler,
  TaskQueue,
  WorkerPoolService,
} from 'nestjs-queue-scheduler';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Subscription } from 'rxjs';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';

export type AppName = 'workers' | 'ledger' | 'scheduled' | 'singleton' | 'traced' | 'events' | 'bare';

const json = <T>(name: string, fallback: T): T => (process.env[name] ? (JSON.parse(process.env[name]!) as T) : fallback);

const env = {
  db: json<Partial<DataSourceOptions>>('QS_DB', {}),
  options: json<QueueSchedulerModuleOptions>('QS_OPTIONS', {}),
  app: (process.env.QS_APP ?? 'workers') as AppName,
  bootOnSignal: Boolean(process.env.QS_BOOT_ON_SIGUSR2),
  startOnStdin: Boolean(process.env.QS_START_ON_STDIN),
  holdMs: process.env.QS_HOLD_MS === undefined ? undefined : Number(process.env.QS_HOLD_MS),
  /** QS_KILL_ON_START=1: `lossy` SIGKILLs its process as it starts, before this instance has written anything else. */
  killOnStart: process.env.QS_KILL_ON_START === '1',
  /** QS_LOSSY_FAIL=1: `lossy` throws as it starts (a failed try, retried by the task's own maxRetries). */
  lossyFails: process.env.QS_LOSSY_FAIL === '1',
  retries: json<RetryPolicy>('QS_RETRIES', { attempts: 1 }),
  produce: Number(process.env.QS_PRODUCE ?? 0),
  scheduleEvents: Boolean(process.env.QS_SCHEDULE_EVENTS),
  variant: process.env.QS_VARIANT ?? '1',
  singletonPushes: Number(process.env.QS_SINGLETON_PUSHES ?? 300),
  tracedPushes: Number(process.env.QS_TRACED_PUSHES ?? 0),
};

const print = (line: Record<string, unknown>): boolean => process.stdout.write(`${JSON.stringify({ ...line, pid: process.pid, at: Date.now() })}\n`);

/** `?` placeholders in any dialect. */
function sql(ds: DataSource, text: string): string {
  let i = 0;
  return ds.options.type === 'postgres' ? text.replace(/\?/g, () => `$${++i}`) : text;
}

// ---- workers: the multi-process suites and the benchmarks' drains -------------------------------------------------

/** Made on the first `digest` task: an instance that never runs one (the benchmarks' idle instance) should not carry 1 MiB the baseline app does not. */
let digestInput: Buffer | undefined;

@Injectable()
class WorkerHandlers {
  constructor(private readonly ds: DataSource) {}

  @TaskHandler('tick')
  tick(): void {}

  /** CPU work per task for the benchmarks' scaling rows: a SHA-256 of 1 MiB, about 0.6 ms of one core here. */
  @TaskHandler('digest')
  digest(): void {
    createHash('sha256').update((digestInput ??= Buffer.alloc(1 << 20, 7))).digest();
  }

  /** Waits 10 ms for nothing, as a handler waits for a call to another service: the benchmarks' I/O-bound scaling rows. */
  @TaskHandler('wait10')
  async wait10(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }

  /** Records every run in the ledger table: the proof of exactly-once (or at-least-once) delivery. */
  @TaskHandler('ledger', { retries: { attempts: 5, backoff: 'fixed', delayMs: 100 } })
  async ledger(_params: unknown, ctx: TaskContext): Promise<void> {
    await this.ds.query(sql(this.ds, 'INSERT INTO ledger (task_id, attempt, pid) VALUES (?, ?, ?)'), [ctx.taskId, ctx.attempt, process.pid]);
  }

  @TaskHandler('slow', { retries: { attempts: 3, backoff: 'fixed', delayMs: 10 } })
  async slow(params: { ms: number }, ctx: TaskContext): Promise<string> {
    print({ event: 'slow-started', id: ctx.taskId, attempt: ctx.attempt });
    await new Promise((resolve) => setTimeout(resolve, params.ms));
    print({ event: 'slow-done', id: ctx.taskId, attempt: ctx.attempt });
    return `done by ${process.pid}`;
  }

  /** Rate-limited (QS_RATE, default 10 per second): prints each start, the proof of the limit across processes. */
  @TaskHandler('limited', { rateLimit: process.env.QS_RATE === 'off' ? undefined : json('QS_RATE', { max: 10, perMs: 1000 }) })
  limited(_params: unknown, ctx: TaskContext): void {
    print({ event: 'limited-started', id: ctx.taskId });
  }

  /** Runs until params.ms pass or its signal aborts (cancelTask), printing when and why it stopped. */
  @TaskHandler('abortable', { retries: { attempts: 3, backoff: 'fixed', delayMs: 10 } })
  abortable(params: { ms: number }, ctx: TaskContext): Promise<void> {
    print({ event: 'abortable-started', id: ctx.taskId, attempt: ctx.attempt });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, params.ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        print({ event: 'aborted', id: ctx.taskId, kind: (ctx.signal.reason as { kind?: string })?.kind });
        reject(ctx.signal.reason);
      });
    });
  }

  /** Fails its first try, retried a second later, and succeeds the next: a retry whichever process has a free worker runs. */
  @TaskHandler('flaky', { retries: { attempts: 2, backoff: 'fixed', delayMs: 1000 } })
  flaky(_params: unknown, ctx: TaskContext): string {
    print({ event: 'flaky-started', id: ctx.taskId, attempt: ctx.attempt });
    if (ctx.attempt === 1) throw new Error('the first try fails');
    return `done by ${process.pid}`;
  }

  /** The default retry policy (attempts: 1), for the lost-tries suite. Runs params.ms, or QS_HOLD_MS when set (QS_KILL_ON_START: dies instead). */
  @TaskHandler('lossy')
  async lossy(params: { ms: number }, ctx: TaskContext): Promise<string> {
    print({ event: 'lossy-started', id: ctx.taskId, attempt: ctx.attempt });
    if (env.killOnStart) process.kill(process.pid, 'SIGKILL');
    if (env.lossyFails) throw new Error(`lossy fails on ${process.pid}`);
    await new Promise((resolve) => setTimeout(resolve, env.holdMs ?? params.ms));
    print({ event: 'lossy-done', id: ctx.taskId, attempt: ctx.attempt });
    return `done by ${process.pid}`;
  }
}

// ---- ledger: the reliability suite ----------------------------------------------------------------------------------

export interface WorkParams {
  /** Busy-waits this long inside the handler's first try: a real, one-off event-loop stall (a GC pause, a sync call). */
  stallMs?: number;
  /** Awaits this long (the event loop stays free). */
  sleepMs?: number;
  /** Chance that a try throws. */
  failRate?: number;
  /** Every try throws. */
  poison?: boolean;
}

/** Writes `ledger_start` on entry and `ledger_done` on success, so the parent proves each promise with SQL counts. */
@Injectable()
class LedgerHandlers {
  constructor(private readonly ds: DataSource) {}

  private async start(ctx: TaskContext): Promise<void> {
    await this.ds.query(sql(this.ds, 'INSERT INTO ledger_start (task_id, attempt, pid, at) VALUES (?, ?, ?, ?)'), [ctx.taskId, ctx.attempt, process.pid, Date.now()]);
  }

  private async done(ctx: TaskContext): Promise<void> {
    await this.ds.query(sql(this.ds, 'INSERT INTO ledger_done (task_id, pid, at) VALUES (?, ?, ?)'), [ctx.taskId, process.pid, Date.now()]);
  }

  @TaskHandler('work', { retries: env.retries })
  async work(params: WorkParams, ctx: TaskContext): Promise<void> {
    await this.start(ctx);
    if (params.stallMs && ctx.attempt === 1) {
      print({ event: 'stall', id: ctx.taskId, attempt: ctx.attempt, ms: params.stallMs });
      const until = Date.now() + params.stallMs;
      while (Date.now() < until); // deliberately blocks the event loop
    }
    if (params.sleepMs) await new Promise((resolve) => setTimeout(resolve, params.sleepMs));
    if (params.poison || (params.failRate && Math.random() < params.failRate)) throw new Error(`injected failure on attempt ${ctx.attempt}`);
    await this.done(ctx);
  }

  /** The scheduler's occurrences: one ledger row per run, keyed by the occurrence's task id. */
  @TaskHandler('occurrence')
  async occurrence(_params: unknown, ctx: TaskContext): Promise<void> {
    await this.start(ctx);
    await this.done(ctx);
  }
}

async function produce(queue: TaskQueue, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const taskId = `p${process.pid}-${i}`;
    try {
      await queue.pushTask({ taskId, type: 'work', params: {} });
      print({ event: 'pushed', id: taskId });
    } catch (err) {
      print({ event: 'push-failed', id: taskId, error: (err as Error).message });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  print({ event: 'produced' });
}

/** One line per occurrence this instance fired, and per batch of occurrences an overlap policy gave up. */
function printScheduleEvents(scheduler: SchedulerService): void {
  scheduler.events$.subscribe((e) => {
    if (e.kind === 'fired') print({ event: 'fired', s: e.scheduleId, scheduledAt: e.scheduledAt.getTime() });
    if (e.kind === 'skipped') print({ event: 'skipped', s: e.scheduleId, overlap: e.overlap, n: e.skipped, scheduledAt: e.scheduledAt.map((d) => d.getTime()) });
  });
}

// ---- singleton: the multi-process singleton-key suite -----------------------------------------------------------------

/**
 * What each `singleton` process pushes, all at once: QS_SINGLETON_PUSHES
 * pushes of the key `shared`, and the keys `k-0`…`k-19` (singleton),
 * `d-0`…`d-4` (debounce) and `t-0`…`t-4` (throttle) twice each, so every
 * key meets the pushes of the other processes in the same moment.
 */
function singletonPushes(): Array<{ type: string; params: { pid: number; n: number }; singletonKey: string; debounceMs?: number; throttleMs?: number }> {
  const pushes = Array.from({ length: env.singletonPushes }, () => ({ singletonKey: 'shared' }) as { singletonKey: string; debounceMs?: number; throttleMs?: number });
  for (let j = 0; j < 20; j++) pushes.push({ singletonKey: `k-${j}` });
  for (let j = 0; j < 10; j++) pushes.push({ singletonKey: `d-${j % 5}`, debounceMs: 600_000 }, { singletonKey: `t-${j % 5}`, throttleMs: 600_000 });
  return pushes.map((p, n) => ({ type: 'single', params: { pid: process.pid, n }, ...p }));
}

/** On a line on stdin, pushes singletonPushes() concurrently and prints the distinct ids each key returned. */
function pushSingletonsOnStdin(queue: TaskQueue): void {
  process.stdin.once('data', () => {
    process.stdin.destroy();
    const pushes = singletonPushes();
    Promise.all(pushes.map((p) => queue.pushTask(p))).then(
      (ids) => {
        const byKey: Record<string, string[]> = {};
        pushes.forEach((p, n) => (byKey[p.singletonKey] = [...new Set([...(byKey[p.singletonKey] ?? []), ids[n]])]));
        print({ event: 'pushed', count: ids.length, byKey });
      },
      (err: unknown) => print({ event: 'push-failed', error: String((err as Error)?.stack ?? err) }),
    );
  });
}

// ---- scheduled: the multi-process @Scheduled upsert suite -----------------------------------------------------------

/** Variant 2 changes `report-a`'s cron and `sweep`'s params, and drops `report-b`. */
const v2 = env.variant === '2';
const REPORT_A: ScheduledOptions = { key: 'report-a', cron: v2 ? '0 3 * * *' : '0 2 * * *', timezone: 'Asia/Shanghai' };
const REPORT_B: ScheduledOptions = { key: 'report-b', cron: '30 * * * *' };
const SWEEP: ScheduledOptions = { key: 'sweep', interval: 3600, params: { dir: v2 ? '/tmp/b' : '/tmp/a' } };
/** Declared on one method in a loop (a method may carry several @Scheduled). */
const BULK = 20;

/** `@Scheduled` in variant 1 only. */
const inV1 = (options: ScheduledOptions): MethodDecorator => (v2 ? () => undefined : Scheduled(options));

@Injectable()
class ScheduledJobs {
  @Scheduled(REPORT_A)
  @inV1(REPORT_B)
  @TaskHandler('mp_report')
  report(): void {}

  @Scheduled(SWEEP)
  @TaskHandler('mp_sweep')
  sweep(): void {}

  @TaskHandler('mp_bulk')
  bulk(): void {}
}

// many keys, so the instances' writes overlap in time: bulk-00 … bulk-19, unchanged between the variants
for (let i = 0; i < BULK; i++) {
  Scheduled({ key: `bulk-${String(i).padStart(2, '0')}`, interval: 60 + i })(ScheduledJobs.prototype, 'bulk', Object.getOwnPropertyDescriptor(ScheduledJobs.prototype, 'bulk')!);
}

// ---- traced: the tracing suite's process that runs what another pushed ----------------------------------------------

@Injectable()
class TracedHandlers {
  @TaskHandler('traced-ok')
  ok(): string {
    return 'ok';
  }

  @TaskHandler('traced-fail', { retries: { attempts: 2, backoff: 'fixed', delayMs: 10 } })
  fail(_params: unknown, ctx: TaskContext): never {
    throw new Error(`boom on attempt ${ctx.attempt}`);
  }

  /** Kills its own process mid-try: the try is lost with its worker. */
  @TaskHandler('traced-lost')
  lost(): never {
    process.kill(process.pid, 'SIGKILL');
    throw new Error('still running after SIGKILL');
  }
}

/**
 * With `tracing: true`, an OpenTelemetry SDK whose exporter prints each span
 * as it ends (`{"event":"span"}`), for the parent to join to its own. Required
 * here, not imported: every other app runs without the SDK (and the
 * `@opentelemetry/api`-less suite without the API).
 */
function printSpans(): void {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks') as typeof import('@opentelemetry/context-async-hooks');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const printer: SpanProcessor = {
    onStart: () => undefined,
    onEnd: (span: ReadableSpan) => {
      const { traceId, spanId } = span.spanContext();
      const links = span.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId, traceState: l.context.traceState?.serialize() }));
      const events = span.events.map((e) => ({ name: e.name, attributes: e.attributes }));
      print({ event: 'span', name: span.name, kind: span.kind, traceId, spanId, parentSpanId: span.parentSpanContext?.spanId, links, attributes: span.attributes, status: span.status, events });
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  api.trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [printer] }));
}

/** Pushes `n` `traced-ok` tasks, outside any span, printing their ids. */
async function pushTraced(queue: TaskQueue, n: number): Promise<void> {
  const ids = await queue.pushTasks(Array.from({ length: n }, () => ({ type: 'traced-ok' })));
  print({ event: 'pushed', ids });
}

// ---- events: the multi-process cluster-events suite ------------------------------------------------------------------

/**
 * Subscribes to clusterEvents$ at once and counts the `succeeded` events per
 * task (apart from `warm-*` tasks, only counted: they show the stream is live), with each one's delay (receipt minus `at`), printing `cluster-count`
 * every 200 ms. Lines on stdin: `disconnect` (unsubscribe), `resume`
 * (subscribe again after the last id seen), `report` (prints `cluster-report`:
 * distinct tasks, events, tasks seen twice, delay percentiles before any resume).
 */
function countClusterEvents(queue: TaskQueue): void {
  const seen = new Map<string, number>();
  /** Of the first subscription only: after a resume the replayed events are late by design. */
  const delays: number[] = [];
  let resumed = false;
  let lastId: string | undefined;
  let warm = 0;
  let subscription: Subscription | undefined;
  const subscribe = (after?: string): void => {
    subscription = queue.clusterEvents$({ after }).subscribe({
      next: (e) => {
        lastId = e.id;
        if (e.kind !== 'succeeded') return;
        if (e.taskId.startsWith('warm-')) return void warm++;
        seen.set(e.taskId, (seen.get(e.taskId) ?? 0) + 1);
        if (!resumed) delays.push(Date.now() - e.at.getTime());
      },
      error: (err: unknown) => print({ event: 'cluster-error', error: String(err) }),
    });
  };
  subscribe();
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'disconnect') {
      subscription?.unsubscribe();
      print({ event: 'disconnected', distinct: seen.size });
    } else if (line === 'resume') {
      resumed = true;
      subscribe(lastId);
      print({ event: 'resumed', distinct: seen.size });
    } else if (line === 'report') {
      const sorted = [...delays].sort((a, b) => a - b);
      const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
      const counts = [...seen.values()];
      print({ event: 'cluster-report', distinct: seen.size, total: counts.reduce((a, b) => a + b, 0), twice: counts.filter((n) => n > 1).length, p50: pct(50), p99: pct(99), max: sorted.at(-1) ?? 0 });
    }
  });
  setInterval(() => print({ event: 'cluster-count', distinct: seen.size, warm }), 200).unref();
}

// ---- the apps -------------------------------------------------------------------------------------------------------

/**
 * Prints the library's log lines of `levels` (of one `context` when given) as
 * `{"event":"log"}` JSON lines; any other error goes to stderr, the rest is dropped.
 */
class PrintingLogger implements LoggerService {
  constructor(
    private readonly levels: LogLevel[],
    private readonly context?: string,
  ) {}

  private write(level: LogLevel, message: unknown, context: unknown, rest: unknown[] = []): void {
    if (this.levels.includes(level) && (!this.context || context === this.context)) print({ event: 'log', level, context, message: String(message) });
    else if (level === 'error') process.stderr.write(`${String(message)} ${rest.join(' ')}\n`);
  }
  log(message: unknown, context?: string): void {
    this.write('log', message, context);
  }
  warn(message: unknown, context?: string): void {
    this.write('warn', message, context);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest.at(-1), rest);
  }
}

interface App {
  providers: Provider[];
  /** Under QS_OPTIONS. */
  defaults: QueueSchedulerModuleOptions;
  logger: () => LoggerService | LogLevel[];
  /** Before boot. */
  setup?: () => void;
  /** After boot. */
  started?: (app: Awaited<ReturnType<typeof NestFactory.createApplicationContext>>) => void;
}

const APPS: Record<AppName, App> = {
  /** tick, ledger, slow and lossy handlers; prints the occurrences it queues or cancels (`queued`, `cancelled`). */
  workers: {
    providers: [WorkerHandlers],
    defaults: { logLevel: 'error', scheduler: { pollIntervalMs: 200 } },
    logger: () => ['error', 'fatal'],
    started: (app) =>
      app.get(TaskQueue).events$.subscribe((e) => {
        // a stopping memory-backend instance cancels the occurrences it queued ahead and gives them back to their rows
        if ((e.kind === 'queued' || e.kind === 'cancelled') && e.schedulerTaskId) print({ event: e.kind, s: e.schedulerTaskId, scheduledAt: e.scheduledAt?.getTime() });
      }),
  },
  /** work and occurrence handlers writing the ledger; the library's warnings and errors as JSON lines; QS_PRODUCE. */
  ledger: {
    providers: [LedgerHandlers],
    defaults: { logLevel: 'warn' },
    logger: () => new PrintingLogger(['warn', 'error']),
    started: (app) => {
      if (env.produce > 0) void produce(app.get(TaskQueue), env.produce);
      if (env.scheduleEvents) printScheduleEvents(app.get(SchedulerService));
    },
  },
  /** @Scheduled declarations of QS_VARIANT, no workers or scheduler; prints DeclaredSchedulesService's log lines. */
  scheduled: {
    providers: [ScheduledJobs],
    defaults: { logLevel: 'log', workers: { enabled: false }, scheduler: { enabled: false } },
    logger: () => new PrintingLogger(['log', 'warn'], 'DeclaredSchedulesService'),
  },
  /** No workers or scheduler; pushes singletonPushes() when a line arrives on stdin. */
  singleton: {
    providers: [],
    defaults: { logLevel: 'error', workers: { enabled: false }, scheduler: { enabled: false } },
    logger: () => ['error', 'fatal'],
    started: (app) => pushSingletonsOnStdin(app.get(TaskQueue)),
  },
  /** traced-ok, traced-fail and traced-lost (SIGKILLs its process) handlers; with `tracing: true` prints its spans (see printSpans); QS_TRACED_PUSHES. */
  traced: {
    providers: [TracedHandlers],
    defaults: { logLevel: 'fatal' },
    logger: () => ['error', 'fatal'],
    setup: () => {
      if (env.options.tracing) printSpans();
    },
    started: (app) => {
      if (env.tracedPushes > 0) void pushTraced(app.get(TaskQueue), env.tracedPushes);
    },
  },
  /** The workers' handlers, and countClusterEvents. */
  events: {
    providers: [WorkerHandlers],
    defaults: { logLevel: 'error' },
    logger: () => ['error', 'fatal'],
    started: (app) => countClusterEvents(app.get(TaskQueue)),
  },
  /** The module and no handler. */
  bare: {
    providers: [],
    defaults: { logLevel: 'error' },
    logger: () => ['error', 'fatal'],
  },
};

const app = APPS[env.app];
if (!app) throw new Error(`QS_APP: unknown app '${env.app}' (${Object.keys(APPS).join(', ')})`);

if (env.app === 'ledger') {
  // the outage scenario's promise: whatever the database does, nothing escapes as an unhandled rejection
  process.on('unhandledRejection', (reason) => print({ event: 'unhandledRejection', reason: String((reason as Error)?.stack ?? reason) }));
  process.on('uncaughtException', (err) => print({ event: 'uncaughtException', reason: String(err.stack ?? err) }));
}

/** QS_OPTIONS over the app's defaults; `scheduler` merged one level down. */
const moduleOptions: QueueSchedulerModuleOptions = {
  ...app.defaults,
  ...env.options,
  ...(app.defaults.scheduler && { scheduler: { ...app.defaults.scheduler, ...env.options.scheduler } }),
};

@Module({
  imports: [
    TypeOrmModule.forRoot({ autoLoadEntities: true, synchronize: false, logging: false, ...env.db } as never),
    QueueSchedulerModule.forRoot(moduleOptions),
  ],
  providers: app.providers,
})
class AppProcessModule {}

async function main(): Promise<void> {
  if (env.bootOnSignal) {
    const go = new Promise((resolve) => process.once('SIGUSR2', resolve));
    const alive = setInterval(() => undefined, 1000); // a signal listener alone does not keep the process running
    print({ event: 'loaded' });
    await go;
    clearInterval(alive);
  }
  app.setup?.();
  const ctx = await NestFactory.createApplicationContext(AppProcessModule, { logger: app.logger() });
  ctx.enableShutdownHooks(); // SIGTERM closes the app: the workers drain, the scheduler stops
  // not a signal for the start: enableShutdownHooks() turns SIGUSR2 and the like into a shutdown
  if (env.startOnStdin) {
    process.stdin.once('data', () => {
      process.stdin.destroy();
      ctx.get(WorkerPoolService).start();
    });
  }
  app.started?.(ctx);
  print({ event: 'ready' });
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
