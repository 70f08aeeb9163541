import type { EntityManager, Repository } from 'typeorm';
import type { Clock } from '../clock';
import { SchedulerTask } from '../entities/scheduler-task.entity';
import { describeValue, InvalidScheduleError, TaskNotFoundError } from '../errors/errors';
import { ScheduleConflictError } from '../errors/conflict-errors';
import { keyProblem } from '../queue/json-value';
import { MAX_SCHEDULE_ID_LENGTH } from '../queue/task-validation';
import type { AddSchedulerTaskInput, UpdateSchedulerTaskInput } from '../interfaces/schedule.interface';
import type { LibraryLogger } from '../queue-scheduler.logger';
import type { TaskQueue } from '../queue/task-queue';
import type { QueueConsumer } from '../queue/queue-consumer';
import { changedFrom, initialRun } from './math/schedule-math';
import { assumeGivenBack, cancelAhead, type GivenBack } from './ahead-occurrences';
import type { ScheduleLoop } from './schedule-loop';
import { comparable, type ScheduleDefaults, type ScheduleFields, TIMING_FIELDS, validateSchedule } from './schedule-input';

/** Tries of one change's compare-and-set before giving up (the firing loop or another instance kept changing the row). */
const MAX_CHANGE_TRIES = 10;

/**
 * Changes to a stored schedule (pause, resume, update, delete): each a
 * compare-and-set on the row's `version`, retried when another instance
 * (usually a firing loop) changed the row in between, and each after the
 * occurrences the row queued ahead of their time are cancelled and given back
 * to it, so the change applies to them as to every later one.
 */
export class ScheduleChanges {
  private readonly turns = new Map<unknown, Promise<void>>();

  constructor(
    private readonly repo: Repository<SchedulerTask>,
    private readonly loop: ScheduleLoop,
    private readonly queue: TaskQueue,
    private readonly consumer: QueueConsumer,
    private readonly clock: Clock,
    private readonly defaults: ScheduleDefaults,
    private readonly logger: LibraryLogger,
  ) {}

  /** Unknown id → `TaskNotFoundError`. */
  async read(id: string): Promise<SchedulerTask> {
    // no schedule can have an id a push of its occurrences would refuse: MariaDB compared a number with the
    // text column as numbers (getSchedule(2) found another schedule), PostgreSQL refused a NUL, TypeORM a null
    if (keyProblem(id, MAX_SCHEDULE_ID_LENGTH)) throw new TaskNotFoundError(id, 'schedule');
    const row = await this.repo.findOneBy({ taskId: id });
    if (!row) throw new TaskNotFoundError(id, 'schedule');
    return row;
  }

  /**
   * See SchedulerService.cancelAheadThen. On the database backend the cancels and `write` are one transaction, and
   * a write that changed nothing (falsy: its compare-and-set lost) rolls the cancels back with it; `write` gets the
   * transaction's manager then.
   */
  cancelAheadThen<T>(row: SchedulerTask, cancelled: Set<number>, write: (givenBack: GivenBack | null, manager?: EntityManager) => Promise<T>): Promise<T> {
    const clock = (): number => this.clock.now();
    if (!this.consumer.inScheduleChange) return this.loop.exclusive(async () => write(await cancelAhead(this.queue, row, clock(), cancelled, { clock })));
    return this.loop.exclusive(() =>
      this.consumer.inScheduleChange!(async (tx) => {
        // what an earlier try cancelled was rolled back with it: each try cancels afresh
        const written = await write(await cancelAhead(this.queue, row, clock(), new Set(), { cancel: tx.cancel, clock }), tx.manager);
        if (!written) throw new WriteLost(written);
        return written;
      }).catch((err: unknown) => {
        if (err instanceof WriteLost) return err.value as T;
        throw err;
      }),
    );
  }

  pause(id: string): Promise<SchedulerTask> {
    return this.change(id, () => ({ enabled: false, nextRunAt: null }));
  }

  resume(id: string): Promise<SchedulerTask> {
    return this.change(id, (row) => {
      if (finished(row)) {
        throw new InvalidScheduleError('enabled', `schedule '${row.taskId}' has finished (run_count ${row.runCount}, max_runs ${row.maxRuns}, type ${row.scheduleType}); to run it again, update it first (a higher maxRuns, a later executeAt), or pass enabled: true in that update`);
      }
      return { enabled: true, nextRunAt: resumeAt(row, this.clock.now()) };
    });
  }

  update(id: string, patch: UpdateSchedulerTaskInput): Promise<SchedulerTask> {
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
      return Promise.reject(new InvalidScheduleError('schedule', `an update must be an object of the fields to change, got ${describeValue(patch)}`));
    }
    return this.change(id, (row) => {
      const now = this.clock.now();
      // keys present with an undefined value (optional DTO fields) change nothing
      const given = stripUndefined(patch);
      const merged = { ...asInput(row), ...given };
      const fields = validateSchedule(merged as AddSchedulerTaskInput, this.defaults, 'executeAt' in given ? now : -Infinity);
      const timingChanged = TIMING_FIELDS.some((f) => comparable(fields[f]) !== comparable(row[f]));
      const next: Partial<SchedulerTask> = { ...fields };
      const candidate = { ...row, ...fields } as SchedulerTask;
      if (!fields.enabled || finished(candidate)) {
        next.nextRunAt = null;
        next.enabled = fields.enabled && !finished(candidate);
      } else if (timingChanged || !row.enabled || row.nextRunAt === null) {
        next.nextRunAt = timingChanged ? initialRun(fields, changedFrom(now, row.lastRunAt)) : resumeAt(candidate, now);
      }
      return next;
    });
  }

  delete(id: string): Promise<void> {
    return this.inTurn(id, () => this.deleteNow(id));
  }

  private async deleteNow(id: string): Promise<void> {
    const cancelled = new Set<number>();
    for (let attempt = 0; attempt < MAX_CHANGE_TRIES; attempt++) {
      const row = await this.read(id);
      const deleted = await this.cancelAheadThen(row, cancelled, async (_, manager) => (await this.repoOf(manager).delete({ taskId: id, version: row.version })).affected);
      if (deleted) {
        this.logger.log(`schedule ${id} deleted`);
        return;
      }
    }
    throw new ScheduleConflictError(id, 'delete it', MAX_CHANGE_TRIES);
  }

  /** The schedules' repository, in a change's transaction when there is one. */
  private repoOf(manager: EntityManager | undefined): Repository<SchedulerTask> {
    return manager ? manager.getRepository(SchedulerTask) : this.repo;
  }

  /**
   * The changes of one schedule made here, one after another: a burst of them raced each other's compare-and-set,
   * one winning per round, and the eleventh of twelve concurrent updates lost ten times in a row.
   */
  private inTurn<T>(id: string, work: () => Promise<T>): Promise<T> {
    const mine = (this.turns.get(id) ?? Promise.resolve()).then(work);
    const settled = mine.then(() => undefined, () => undefined);
    this.turns.set(id, settled);
    void settled.then(() => this.turns.get(id) === settled && this.turns.delete(id));
    return mine;
  }

  /** Read, change, write with compare-and-set on `version`; the loop looks at the table again after a change. */
  private change(id: string, apply: (row: SchedulerTask) => Partial<SchedulerTask | ScheduleFields>): Promise<SchedulerTask> {
    return this.inTurn(id, () => this.changeNow(id, apply));
  }

  private async changeNow(id: string, apply: (row: SchedulerTask) => Partial<SchedulerTask | ScheduleFields>): Promise<SchedulerTask> {
    const cancelled = new Set<number>();
    const withBack = (row: SchedulerTask, back: GivenBack | null): SchedulerTask => (back ? this.repo.merge(this.repo.create(row), back) : row);
    for (let attempt = 0; attempt < MAX_CHANGE_TRIES; attempt++) {
      const read = await this.read(id);
      // validated first on the row as it will be once everything ahead is given back: a rejected call cancels nothing
      apply(withBack(read, assumeGivenBack(read, this.clock.now())));
      const written = await this.cancelAheadThen(read, cancelled, async (givenBack, manager) => {
        const row = withBack(read, givenBack);
        const changes = { ...givenBack, ...apply(row), updatedAt: new Date(this.clock.now()), version: read.version + 1 };
        const result = await this.repoOf(manager)
          .createQueryBuilder()
          .update(SchedulerTask)
          .set(changes as never)
          .where('task_id = :id AND version = :version', { id, version: read.version })
          .execute();
        return result.affected === 1 ? this.repo.merge(row, changes as never) : null;
      });
      if (written) {
        this.loop.wake();
        return written;
      }
    }
    throw new ScheduleConflictError(id, 'apply the change', MAX_CHANGE_TRIES);
  }
}

function finished(row: SchedulerTask): boolean {
  if (row.maxRuns > 0 && row.runCount >= row.maxRuns) return true;
  if (row.scheduleType !== 'once' || row.runCount === 0) return false;
  // a once has run when it ran at its time or later: moved to a later time, it may run again
  return row.lastRunAt === null || row.executeAt === null || row.lastRunAt.getTime() >= row.executeAt.getTime();
}

function resumeAt(row: SchedulerTask, now: number): Date | null {
  // A once that has not fired keeps its time, even if past: it then fires by its misfire policy.
  if (row.scheduleType === 'once') return row.executeAt;
  // the last run bounds the wall clock: a resume inside a repeated hour does not run again what ran on its first pass
  return initialRun(row, changedFrom(now, row.lastRunAt), row.lastRunAt);
}

function asInput(row: SchedulerTask): AddSchedulerTaskInput {
  const { name, taskType, scheduleType, params, maxRuns, description, enabled, misfirePolicy, overlap, priority, timezone, flow } = row;
  return {
    name, taskType, scheduleType, params, maxRuns, description, enabled, misfirePolicy, overlap, priority, flow,
    timezone: timezone ?? undefined,
    intervalSeconds: row.intervalSeconds ?? undefined,
    cronExpression: row.cronExpression ?? undefined,
    executeAt: row.executeAt ?? undefined,
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Thrown out of a change's transaction to roll it back: its write changed nothing. */
class WriteLost extends Error {
  constructor(readonly value: unknown) {
    super('the schedule changed meanwhile');
  }
}
