import { setImmediate as nextTurn } from 'node:timers';
import { settledWithin, UNREACHABLE_WAIT_MS, warnIfSlow } from '../deadline';
import type { DataSource } from 'typeorm';
import type { Clock } from '../clock';
import type { ResolvedOptions } from '../interfaces/options.interface';
import { MAX_TIMER_MS } from '../queue-scheduler.constants';
import type { LibraryLogger } from '../queue-scheduler.logger';
import type { QueueConsumer } from '../queue/queue-consumer';
import type { TaskQueue } from '../queue/task-queue';
import { type ClaimedBatch, ScheduleFiring } from './schedule-firing';
import type { QueueTracing } from '../tracing/queue-tracing';

/** After a failed look at the table, wait this long times 2^failures (capped) before the next one. */
const ERROR_BACKOFF_MS = 500;
const MAX_ERROR_BACKOFF_MS = 30_000;
/** Pause before looking again when other instances held every due row. */
const LOST_CLAIMS_PAUSE_MS = 50;

/**
 * The firing loop: no fixed tick. One indexed read finds the earliest
 * next_run_at; what is due by now + lookaheadMs is claimed in batches and
 * queued as tasks that start at their scheduled time, so the queue's timer
 * decides when they start, not the speed of the claim. Then the loop sleeps
 * until the earliest next_run_at comes within lookaheadMs (at most
 * pollIntervalMs, so other instances' changes are seen), or until a local
 * change wakes it.
 */
export class ScheduleLoop {
  private timer?: NodeJS.Timeout;
  private current?: Promise<void>;
  private again = false;
  private active = false;
  private stopping: Promise<void> | undefined;
  private failures = 0;
  /** The tail of the claims and changes that must not interleave (see exclusive). */
  private turn: Promise<unknown> = Promise.resolve();
  private readonly firing: ScheduleFiring;
  /** Set by holdUntil: the first look waits for it; stop lets it go. */
  private hold?: { done: Promise<void>; release: () => void };

  constructor(
    dataSource: DataSource,
    queue: TaskQueue,
    consumer: QueueConsumer,
    private readonly options: ResolvedOptions['scheduler'],
    private readonly logger: LibraryLogger,
    private readonly clock: Clock,
    /** With `tracing: true`: each claim runs in a `queue.scheduler.claim` span, active while its occurrences are pushed. */
    private readonly tracing?: QueueTracing,
  ) {
    this.firing = new ScheduleFiring(dataSource, queue, consumer, options, logger, clock);
  }

  get events(): ScheduleFiring['events'] {
    return this.firing.events;
  }

  get running(): boolean {
    return this.active;
  }

  /** How far ahead occurrences are claimed; a manual clock's owner fires each at its exact time, so none. */
  private get lookaheadMs(): number {
    return this.clock.manual ? 0 : this.options.lookaheadMs;
  }

  /** The first look waits for `ready` (settled either way), or for stop. */
  holdUntil(ready: Promise<unknown>): void {
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    void ready.then(release, release);
    this.hold = { done, release };
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    this.stopping = undefined;
    this.wake();
  }

  /**
   * Stops firing; on the memory backend, gives the occurrences queued ahead back to their schedules. One stop for
   * every caller until the next start: the worker pool's shutdown waits for it before it counts what is left.
   */
  stop(): Promise<void> {
    return (this.stopping ??= this.stopNow());
  }

  private async stopNow(): Promise<void> {
    this.active = false;
    this.hold?.release();
    this.clearTimer();
    // a firing whose push waits for a queue that is away (Redis down): not waited for past UNREACHABLE_WAIT_MS
    if (this.current && !(await settledWithin(this.current, UNREACHABLE_WAIT_MS))) {
      this.logger.warn(`scheduler stopped while a firing still waited for the queue (is it reachable?): occurrences it claimed and has not pushed are lost`);
    }
    await this.firing.giveBackHeld();
  }

  /**
   * Fires everything due by the clock, once, with no timer: how a manual
   * clock drives the scheduler. Returns when the next schedule is due
   * (epoch ms), or null when none is.
   */
  async runDue(): Promise<number | null> {
    if (this.current) await this.current;
    return (await this.tick(true)).earliest;
  }

  /** The earliest next_run_at (epoch ms): the read every look at the table starts with. */
  async nextDueAt(): Promise<number | null> {
    return (await this.firing.claims.earliest())?.at ?? null;
  }

  /** Settles when the look under way (if any) has ended, the first one included once start() was called. */
  async betweenLooks(): Promise<void> {
    while (this.current) await this.current.catch(() => undefined);
  }

  /** Look at the table now; if a look is under way, look again right after it. */
  wake(): void {
    if (!this.active) return;
    if (this.current) {
      this.again = true;
      return;
    }
    this.clearTimer();
    this.current = this.run().finally(() => (this.current = undefined));
  }

  /**
   * Runs `fn` when no claim of this loop is between its commit and its push,
   * and keeps the loop from claiming until it is done. A change that cancels
   * the occurrences queued ahead runs in it: otherwise it could read a row
   * whose claim has committed, find the newest occurrence not yet in the
   * queue, cancel nothing, and let that occurrence run after the change.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /** Pushes one occurrence outside the schedule's own timing (runNow); a flow schedule's through the claimed path, which pushes flows. */
  push(row: Parameters<ScheduleFiring['push']>[0], scheduledAt: Date, tag = ''): Promise<string> {
    return this.firing.push(row, scheduledAt, tag);
  }

  private async run(): Promise<void> {
    if (this.hold) {
      await this.hold.done;
      this.hold = undefined;
      if (!this.active) return;
    }
    let sleepMs: number;
    do {
      this.again = false;
      try {
        const ticking = this.tick(false);
        warnIfSlow(ticking, 'scheduler: looking for due schedules', this.logger);
        const { wakeAt } = await ticking;
        sleepMs = wakeAt === null ? this.options.pollIntervalMs : Math.max(0, Math.min(wakeAt - this.clock.now(), this.options.pollIntervalMs));
        this.failures = 0;
      } catch (err) {
        this.failures++;
        sleepMs = Math.min(ERROR_BACKOFF_MS * 2 ** (this.failures - 1), MAX_ERROR_BACKOFF_MS);
        this.logger.error(`scheduler: looking for due schedules failed (${this.failures} in a row), retrying in ${sleepMs} ms: ${(err as Error).message}`, err);
      }
    } while (this.active && (this.again || sleepMs === 0));
    if (!this.active) return;
    this.timer = setTimeout(() => this.wake(), Math.min(sleepMs, MAX_TIMER_MS));
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Claims what is due by now + lookaheadMs, batch after batch, until the
   * earliest next_run_at lies beyond. Returns it, and when to look again.
   */
  private async tick(always: boolean): Promise<{ earliest: number | null; wakeAt: number | null }> {
    const lookahead = this.lookaheadMs;
    this.firing.sweepHeld(this.clock.now());
    const waitedThisTick = new Set<string>();
    for (;;) {
      const { claims, waiting, claimRows } = this.firing;
      const first = await claims.earliest(waiting.held(this.clock.now()));
      // a held 'wait' schedule is looked at again at its recheck, whatever else is due
      const recheck = waiting.nextRecheck();
      const soonest = (at: number | null): number | null => (recheck === null ? at : at === null ? recheck : Math.min(at, recheck));
      if (first === null) return { earliest: recheck, wakeAt: recheck };
      const earliest = first.at;
      if (earliest > this.clock.now() + lookahead) return { earliest: soonest(earliest), wakeAt: soonest(earliest - lookahead) };
      let won = 0;
      let waitedAnew = false;
      for (let more = true; more; ) {
        if (!this.active && !always) return { earliest: null, wakeAt: null };
        const batch = await this.claimBatch(lookahead);
        // a turn of the event loop between batches: on SQLite every statement runs on this thread, and a tick of
        // many batches would otherwise hold it until the last one, while the occurrences already queued fall due.
        // Node's own setImmediate: Jest's fake timers replace the global one, and a test's advance() hung on it
        await new Promise((resolve) => nextTurn(resolve));
        won += batch.won;
        for (const id of batch.waiting) {
          if (waitedThisTick.has(id)) continue;
          waitedThisTick.add(id);
          waitedAnew = true;
        }
        more = batch.won + batch.waiting.length > 0 && batch.read === claimRows;
      }
      // rows found waiting are left out from now on: look again at what is behind them (once per row and tick, so a slow look cannot cycle)
      if (waitedAnew) continue;
      // a schedule with an overlap policy is claimed at its own time, not lookaheadMs before: sleep until then
      if (won === 0 && first.overlap !== 'allow' && earliest > this.clock.now()) return { earliest: soonest(earliest), wakeAt: soonest(earliest) };
      // every due row was held or taken by other instances: let them commit rather than spin
      if (won === 0) return { earliest: soonest(earliest), wakeAt: soonest(this.clock.now() + LOST_CLAIMS_PAUSE_MS) };
    }
  }

  /** One batch claimed and pushed, in its turn (see exclusive). */
  private claimBatch(lookahead: number): Promise<ClaimedBatch> {
    const tracing = this.tracing;
    return this.exclusive(() => (tracing === undefined ? this.firing.claimAndPush(lookahead) : tracing.claim(() => this.firing.claimAndPush(lookahead))));
  }
}
