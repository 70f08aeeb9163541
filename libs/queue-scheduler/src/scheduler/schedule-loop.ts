import { Subject } from 'rxjs';
import type { DataSource } from 'typeorm';
import type { Clock } from '../clock';
import type { ResolvedOptions } from '../interfaces/options.interface';
import type { ScheduleEvent } from '../interfaces/schedule.interface';
import { MAX_TIMER_MS } from '../queue-scheduler.constants';
import type { LibraryLogger } from '../queue-scheduler.logger';
import type { Occurrence, QueueConsumer } from '../queue/queue-consumer';
import type { TaskQueue } from '../queue/task-queue';
import { occurrenceTaskId } from './ahead-occurrences';
import { occurrenceChildren } from './schedule-flow';
import { type ClaimLimits, planClaim } from './claim-plan';
import { HeldOccurrences } from './held-occurrences';
import { type ClaimPlan, planOverlap, WaitingSchedules } from './overlap';
import { reportOverlap } from './overlap-report';
import { type ClaimedSchedule, type DueSchedule, type PlanRow, ScheduleClaims } from './schedule-claims';
import type { QueueTracing } from '../tracing/queue-tracing';

/** After a failed look at the table, wait this long times 2^failures (capped) before the next one. */
const ERROR_BACKOFF_MS = 500;
const MAX_ERROR_BACKOFF_MS = 30_000;
/** Pause before looking again when other instances held every due row. */
const LOST_CLAIMS_PAUSE_MS = 50;
/**
 * How often a busy 'wait' schedule is looked at again (at most pollIntervalMs):
 * the delay between the end of its previous run and the start of the held one.
 */
const WAIT_RECHECK_MS = 250;

type Pushed = Pick<DueSchedule, 'taskId' | 'taskType' | 'params' | 'priority' | 'flow'>;
/** One claim's count: rows found due, rows won, 'wait' rows found busy, occurrences pushed. */
type ClaimedBatch = { read: number; won: number; waiting: string[]; pushed: number };

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
  private failures = 0;
  /** The tail of the claims and changes that must not interleave (see exclusive). */
  private turn: Promise<unknown> = Promise.resolve();
  private readonly claims: ScheduleClaims;
  /** Rows per claim: scheduler.batchSize, fewer on SQLite (see ScheduleClaims.claimRows). */
  private readonly claimRows: number;
  private readonly limits: ClaimLimits;
  /** Occurrences queued ahead into a queue that dies with the process (memory backend), given back on stop. */
  private readonly held: HeldOccurrences | null;
  /** 'wait' schedules found busy, out of this instance's claims until their recheck. */
  private readonly waiting: WaitingSchedules;
  readonly events = new Subject<ScheduleEvent>();

  constructor(
    dataSource: DataSource,
    private readonly queue: TaskQueue,
    private readonly consumer: QueueConsumer,
    private readonly options: ResolvedOptions['scheduler'],
    private readonly logger: LibraryLogger,
    private readonly clock: Clock,
    /** With `tracing: true`: each claim runs in a `queue.scheduler.claim` span, active while its occurrences are pushed. */
    private readonly tracing?: QueueTracing,
  ) {
    this.claims = new ScheduleClaims(dataSource);
    this.claimRows = this.claims.claimRows(options.batchSize);
    this.limits = { misfireGraceMs: options.misfireGraceSeconds * 1000, maxCatchUp: options.maxCatchUp };
    this.held = consumer.capabilities.durable ? null : new HeldOccurrences();
    this.waiting = new WaitingSchedules(Math.min(options.pollIntervalMs, WAIT_RECHECK_MS));
  }

  get running(): boolean {
    return this.active;
  }

  /** How far ahead occurrences are claimed; a manual clock's owner fires each at its exact time, so none. */
  private get lookaheadMs(): number {
    return this.clock.manual ? 0 : this.options.lookaheadMs;
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    this.wake();
  }

  /** Stops firing; on the memory backend, gives the occurrences queued ahead back to their schedules. */
  async stop(): Promise<void> {
    this.active = false;
    this.clearTimer();
    await this.current;
    await this.giveBackHeld();
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
    return (await this.claims.earliest())?.at ?? null;
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
  async push(row: Pushed, scheduledAt: Date, tag = ''): Promise<string> {
    const occurrence = this.occurrence(row, scheduledAt, this.clock.now(), tag);
    if (occurrence.children === undefined) return this.queue.pushTask(occurrence);
    return (await this.consumer.pushClaimed(() => Promise.resolve([occurrence])))![0];
  }

  private occurrence(row: Pushed, scheduledAt: Date, now: number, tag = ''): Occurrence {
    const delayMs = Math.max(0, scheduledAt.getTime() - now);
    // runNow's extra occurrence carries no scheduledAt fence: it is not one of the schedule's own occurrences
    return {
      taskId: occurrenceTaskId(row.taskId, scheduledAt, tag),
      type: row.taskType,
      params: row.params,
      priority: row.priority,
      delayMs,
      schedulerTaskId: row.taskId,
      scheduledAt: tag ? undefined : scheduledAt,
      // a flow schedule: this task is the root, the template's children are pushed under it (no schedule fields of their own)
      children: row.flow ? occurrenceChildren(row.flow, delayMs) : undefined,
    };
  }

  private async run(): Promise<void> {
    let sleepMs: number;
    do {
      this.again = false;
      try {
        const { wakeAt } = await this.tick(false);
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
    this.held?.sweep(this.clock.now());
    const waitedThisTick = new Set<string>();
    for (;;) {
      const first = await this.claims.earliest(this.waiting.held(this.clock.now()));
      // a held 'wait' schedule is looked at again at its recheck, whatever else is due
      const recheck = this.waiting.nextRecheck();
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
        // many batches would otherwise hold it until the last one, while the occurrences already queued fall due
        await new Promise((resolve) => setImmediate(resolve));
        won += batch.won;
        for (const id of batch.waiting) {
          if (waitedThisTick.has(id)) continue;
          waitedThisTick.add(id);
          waitedAnew = true;
        }
        more = batch.won + batch.waiting.length > 0 && batch.read === this.claimRows;
      }
      // rows found waiting are left out from now on: look again at what is behind them (once per row and tick, so a slow look cannot cycle)
      if (waitedAnew) continue;
      // a schedule with an overlap policy is claimed at its own time, not lookaheadMs before: sleep until then
      if (won === 0 && first.overlap !== 'allow' && earliest > this.clock.now()) return { earliest: soonest(earliest), wakeAt: soonest(earliest) };
      // every due row was held or taken by other instances: let them commit rather than spin
      if (won === 0) return { earliest: soonest(earliest), wakeAt: soonest(this.clock.now() + LOST_CLAIMS_PAUSE_MS) };
    }
  }

  /**
   * Claims one batch and queues its occurrences, each to start at its
   * scheduled time; on the database backend claim and insert are one
   * transaction. Returns the rows found due and those this instance won.
   */
  private claimBatch(lookahead: number): Promise<ClaimedBatch> {
    const tracing = this.tracing;
    return this.exclusive(() => (tracing === undefined ? this.claimAndPush(lookahead) : tracing.claim(() => this.claimAndPush(lookahead))));
  }

  private async claimAndPush(lookahead: number): Promise<ClaimedBatch> {
    const now = this.clock.now();
    const horizon = now + lookahead;
    let claimed: ClaimedSchedule[] = [];
    let waiting: string[] = [];
    let read = 0;
    let pushedAt = now;
    const ids = await this.consumer.pushClaimed(async (manager) => {
      // in the claim's transaction on the database backend (its manager): the check and the claim see one state
      const plan: PlanRow = (row) =>
        row.overlap === 'allow'
          ? planClaim(row, now, horizon, this.limits)
          : this.consumer.hasUnfinishedRun(row.taskId, manager).then((busy) => planOverlap(row, now, this.limits, busy));
      // a transaction rolled back for a deadlock runs this again from the start
      ({ read, won: claimed, waiting } = await this.claims.claim(horizon, this.claimRows, plan, now, manager, this.waiting.held(now)));
      if (!claimed.length) return null;
      // read after the claim's statements, so each delay ends at the occurrence
      pushedAt = this.clock.now();
      return claimed.flatMap(({ row, plan }) => plan.fire.map((at) => this.occurrence(row, at, pushedAt)));
    });
    for (const id of waiting) this.waiting.hold(id, now);
    if (waiting.length && this.logger.enabled('debug')) this.logger.debug(`schedule(s) ${waiting.join(', ')}: due occurrence held until the previous run finishes (overlap wait)`);
    if (!ids) return { read, won: 0, waiting, pushed: 0 };
    let next = 0;
    for (const { row, plan } of claimed) {
      const rowIds = ids.slice(next, (next += plan.fire.length));
      this.held?.note(row, plan, rowIds, pushedAt);
      this.fired(row, plan, rowIds, pushedAt);
    }
    return { read, won: claimed.length, waiting, pushed: ids.length };
  }

  private async giveBackHeld(): Promise<void> {
    if (!this.held?.size) return;
    const now = this.clock.now();
    try {
      const { moves, cancelled } = await this.held.cancelAll(this.queue, now);
      if (!moves.length) return;
      const moved = await this.claims.giveBack(moves, now);
      this.logger.log(`scheduler stopped: ${cancelled} occurrence(s) queued ahead in memory cancelled, ${moved} of ${moves.length} schedule(s) set back to fire them`);
    } catch (err) {
      this.logger.error(`scheduler stopped: giving the occurrences queued ahead back to their schedules failed: ${(err as Error).message}`, err);
    }
  }

  /**
   * Logs and reports one claimed row's occurrences. `fired`'s `at` is when the
   * occurrence was released to start: the claim time if it was already due,
   * its scheduled time if it was queued ahead, so `at − scheduledAt` stays
   * the scheduler's lag and is never negative.
   */
  private fired(row: DueSchedule, plan: ClaimPlan, ids: string[], now: number): void {
    const about = { scheduleId: row.taskId, name: row.name, taskType: row.taskType };
    if (plan.skipped?.length || plan.coalesced) reportOverlap(this.logger, (e) => this.emit(e), row, plan, now);
    if (plan.missed > 0) {
      this.logger.warn(`schedule ${row.taskId} '${row.name}' (${row.taskType}): ${plan.missed} occurrence(s) missed, policy ${row.misfirePolicy}`);
      this.emit({ kind: 'missed', ...about, missed: plan.missed, policy: row.misfirePolicy, at: new Date(now) });
    }
    if (this.events.observed) {
      ids.forEach((taskId, i) => this.emit({ kind: 'fired', ...about, taskId, scheduledAt: plan.fire[i], at: new Date(Math.max(now, plan.fire[i].getTime())) }));
    }
    if (this.logger.enabled('debug')) {
      ids.forEach((taskId, i) => {
        const late = now - plan.fire[i].getTime();
        this.logger.debug(`task ${taskId} (${row.taskType}) pushed by schedule '${row.name}', scheduled ${plan.fire[i].toISOString()}, ${late >= 0 ? `${late} ms late` : `${-late} ms ahead`}`);
      });
    }
    if (plan.next === null) this.logger.log(`schedule ${row.taskId} '${row.name}' finished after ${row.runCount + plan.fire.length} run(s)`);
  }

  private emit(event: ScheduleEvent): void {
    if (this.events.observed) this.events.next(event);
  }
}
