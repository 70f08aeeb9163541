import { Subject } from 'rxjs';
import type { DataSource } from 'typeorm';
import type { Clock } from '../clock';
import type { ResolvedOptions } from '../interfaces/options.interface';
import type { ScheduleEvent } from '../interfaces/schedule.interface';
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

/**
 * How often a busy 'wait' schedule is looked at again (at most pollIntervalMs):
 * the delay between the end of its previous run and the start of the held one.
 */
const WAIT_RECHECK_MS = 250;

type Pushed = Pick<DueSchedule, 'taskId' | 'taskType' | 'params' | 'priority' | 'flow'>;
/** What every event of a schedule names; made only for an event (most claimed rows report none). */
const about = (row: DueSchedule): Pick<ScheduleEvent, 'scheduleId' | 'name' | 'taskType'> => ({ scheduleId: row.taskId, name: row.name, taskType: row.taskType });
/** One claim's count: rows found due, rows won, 'wait' rows found busy, occurrences pushed. */
export type ClaimedBatch = { read: number; won: number; waiting: string[]; pushed: number };

/**
 * What a look at the table does, ScheduleLoop deciding when: claim a batch of
 * due schedules, queue their occurrences, report them (events, log), and on
 * the memory backend keep the occurrences queued ahead to give back on stop.
 */
export class ScheduleFiring {
  readonly claims: ScheduleClaims;
  /** Rows per claim: scheduler.batchSize, fewer on SQLite (see ScheduleClaims.claimRows). */
  readonly claimRows: number;
  private readonly limits: ClaimLimits;
  /** Occurrences queued ahead into a queue that dies with the process (memory backend), given back on stop. */
  private readonly held: HeldOccurrences | null;
  /** 'wait' schedules found busy, out of this instance's claims until their recheck. */
  readonly waiting: WaitingSchedules;
  readonly events = new Subject<ScheduleEvent>();

  constructor(
    dataSource: DataSource,
    private readonly queue: TaskQueue,
    private readonly consumer: QueueConsumer,
    options: ResolvedOptions['scheduler'],
    private readonly logger: LibraryLogger,
    private readonly clock: Clock,
  ) {
    this.claims = new ScheduleClaims(dataSource);
    this.claimRows = this.claims.claimRows(options.batchSize);
    this.limits = { misfireGraceMs: options.misfireGraceSeconds * 1000, maxCatchUp: options.maxCatchUp };
    this.held = consumer.capabilities.durable ? null : new HeldOccurrences();
    this.waiting = new WaitingSchedules(Math.min(options.pollIntervalMs, WAIT_RECHECK_MS));
  }

  /** Forgets the occurrences queued ahead that have started by `now`. */
  sweepHeld(now: number): void {
    this.held?.sweep(now);
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

  /**
   * Claims one batch and queues its occurrences, each to start at its
   * scheduled time; on the database backend claim and insert are one
   * transaction. Returns the rows found due and those this instance won.
   */
  async claimAndPush(lookahead: number): Promise<ClaimedBatch> {
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

  /** Stop on the memory backend: the occurrences queued ahead are cancelled and their schedules set back to fire them. */
  async giveBackHeld(): Promise<void> {
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
    if (plan.skipped?.length || plan.coalesced) reportOverlap(this.logger, (e) => this.emit(e), row, plan, now);
    if (plan.missed > 0) {
      this.logger.warn(`schedule ${row.taskId} '${row.name}' (${row.taskType}): ${plan.missed} occurrence(s) missed, policy ${row.misfirePolicy}`);
      this.emit({ kind: 'missed', ...about(row), missed: plan.missed, policy: row.misfirePolicy, at: new Date(now) });
    }
    if (this.events.observed) {
      ids.forEach((taskId, i) => this.emit({ kind: 'fired', ...about(row), taskId, scheduledAt: plan.fire[i], at: new Date(Math.max(now, plan.fire[i].getTime())) }));
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
