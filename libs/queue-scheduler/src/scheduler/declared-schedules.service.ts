import { Inject, Injectable, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { type DataSource, type EntityManager, IsNull, Not, type Repository } from 'typeorm';
import { type Clock, QUEUE_SCHEDULER_CLOCK, systemClock } from '../clock';
import { SchedulerTask } from '../entities/scheduler-task.entity';
import { InvalidOptionsError } from '../errors/errors';
import type { ResolvedOptions } from '../interfaces/options.interface';
import { checkSchema } from '../database/schema-check';
import { RESOLVED_OPTIONS, SCHEDULER_DATA_SOURCE } from '../queue-scheduler.constants';
import { LibraryLogger } from '../queue-scheduler.logger';
import { driverErrorOf, retryTransient } from '../database/sql';
import { type DeclaredSchedule, declaredRun, declareSchedules, type ScheduledMethod } from './declared-schedule';
import type { GivenBack } from './ahead-occurrences';
import { SchedulerService } from './scheduler.service';

type Outcome = 'added' | 'updated' | 'unchanged' | 'disabled';

/** Tries of one row's compare-and-set before giving up (another instance or the firing loop kept changing it). */
const MAX_TRIES = 10;

/**
 * Writes the `@Scheduled` declarations to `scheduler_task`, keyed by
 * `schedule_key`: found by the library's explorer and validated at module
 * init (a bad one stops start-up), upserted at bootstrap. The unique index on the key is the fence
 * between instances booting together: an insert that loses the race falls
 * back to the update path, and updates are compare-and-set on `version`.
 * @publicApi
 */
@Injectable()
export class DeclaredSchedulesService implements OnApplicationBootstrap {
  private readonly logger: LibraryLogger;
  private declared: DeclaredSchedule[] = [];
  private synced?: () => void;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    @Optional() @Inject(SCHEDULER_DATA_SOURCE) private readonly dataSource?: DataSource,
    @Optional() private readonly scheduler?: SchedulerService,
    @Optional() @Inject(QUEUE_SCHEDULER_CLOCK) private readonly clock: Clock = systemClock,
  ) {
    this.logger = new LibraryLogger(DeclaredSchedulesService.name, options.logLevel);
    // the scheduler starts at module init, before this sync: its first look would fire what a declaration removed or
    // changed by this deploy missed while the app was down, under the old declaration
    if (options.autoStart && scheduler) scheduler.holdFiringUntil(new Promise<void>((resolve) => (this.synced = resolve)));
  }

  /**
   * Takes the `@Scheduled` methods the explorer found at module init (before
   * any bootstrap), validated here: a bad declaration, a key declared twice or
   * a declaration without a database stops start-up.
   * @internal
   */
  declare(found: readonly ScheduledMethod[]): void {
    const { scheduler, queue } = this.options;
    const defaults = { timezone: scheduler.defaultTimezone, misfirePolicy: scheduler.defaultMisfirePolicy, maxPayloadBytes: queue.maxPayloadBytes };
    const declared = declareSchedules(found, defaults);
    if (declared.length > 0 && !this.dataSource) {
      throw new InvalidOptionsError(
        'dataSource',
        `@Scheduled on ${declared.map((d) => d.source).join(', ')} needs a database, but the module was set up with dataSource: false`,
      );
    }
    this.declared = declared;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.options.autoStart) return;
    try {
      await this.sync();
    } finally {
      this.synced?.();
    }
  }

  /**
   * Adds, updates and disables rows so the table matches the declarations
   * (run at bootstrap; call it yourself with `autoStart: false`).
   */
  async sync(): Promise<void> {
    if (!this.dataSource) return;
    // the scheduler checked at module init; with it disabled (or autoStart off) this is the first read of the table
    await checkSchema(this.dataSource);
    const repo = this.dataSource.getRepository(SchedulerTask);
    const rows = await retryTransient(() => repo.find({ where: { scheduleKey: Not(IsNull()) } }));
    const byKey = new Map(rows.map((r) => [r.scheduleKey!, r]));
    const counts: Record<Outcome, number> = { added: 0, updated: 0, unchanged: 0, disabled: 0 };
    for (const d of this.declared) counts[await this.apply(repo, d, byKey.get(d.key))]++;
    const keys = new Set(this.declared.map((d) => d.key));
    // an app that declares nothing (an API-only instance sharing the table) does not own the declared rows
    const owner = this.declared.length > 0;
    for (const row of rows) {
      if (owner && !keys.has(row.scheduleKey!) && row.declaredHash !== null) counts[await this.retire(repo, row)]++;
    }
    const { added, updated, unchanged, disabled } = counts;
    if (this.declared.length > 0 || disabled > 0) {
      this.logger.log(`declared schedules: ${added} added, ${updated} updated, ${unchanged} unchanged, ${disabled} disabled`);
    }
    if (added + updated > 0) this.scheduler?.wake();
  }

  /** Writes one declaration: insert when the key is new, else update in place when the declaration changed. */
  private async apply(repo: Repository<SchedulerTask>, d: DeclaredSchedule, row: SchedulerTask | undefined): Promise<Outcome> {
    const cancelled = new Set<number>();
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      if (!row) {
        if (await this.insert(repo, d)) return 'added';
        // another instance inserted the key first: its row now goes through the update path
      } else {
        if (row.declaredHash === d.hash) return 'unchanged';
        if (await this.update(repo, d, row, cancelled)) return 'updated';
      }
      row = (await retryTransient(() => repo.findOneBy({ scheduleKey: d.key }))) ?? undefined;
    }
    throw new Error(`@Scheduled('${d.key}') on ${d.source}: could not write the schedule, its row kept changing (${MAX_TRIES} tries)`);
  }

  /** Inserts the row; false when the key's unique index refused it (another instance was first). */
  private async insert(repo: Repository<SchedulerTask>, d: DeclaredSchedule): Promise<boolean> {
    const now = this.clock.now();
    const { note, ...run } = declaredRun(d.fields, undefined, now);
    const row = repo.create({
      ...d.fields,
      ...run,
      taskId: randomUUID(),
      scheduleKey: d.key,
      declaredHash: d.hash,
      runCount: 0,
      lastRunAt: null,
      version: 0,
      createdAt: new Date(now),
      updatedAt: new Date(now),
    });
    try {
      await retryTransient(() => repo.insert(row));
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
    this.report(`schedule '${d.key}' (${row.taskId}, ${d.fields.taskType}) added from @Scheduled on ${d.source}`, row.nextRunAt, note);
    return true;
  }

  /**
   * Rewrites the definition in place (run count and last run kept); false when the row changed since it was read.
   * Occurrences queued ahead are given back first, so the new declaration applies to them.
   */
  private async update(repo: Repository<SchedulerTask>, d: DeclaredSchedule, row: SchedulerTask, cancelled: Set<number>): Promise<boolean> {
    const now = this.clock.now();
    const written = await this.cancelAheadThen(row, cancelled, async (givenBack, manager) => {
      const { note, ...run } = declaredRun(d.fields, givenBack ? repo.merge(repo.create(row), givenBack) : row, now);
      const changes = { ...givenBack, ...d.fields, ...run, declaredHash: d.hash, version: row.version + 1, updatedAt: new Date(now) };
      return (await this.compareAndSet(repo, row, changes, manager)) ? { note, run } : null;
    });
    if (!written) return false;
    const { note, run } = written;
    this.report(`schedule '${d.key}' (${row.taskId}, ${d.fields.taskType}) updated from its changed @Scheduled on ${d.source}`, run.nextRunAt, note);
    return true;
  }

  /**
   * Disables a row whose declaration is gone; only the instance whose write wins logs it. A write that lost is tried
   * again on the row read anew: the firing loop, started before this sync, claims the row too (an overdue schedule at
   * once), and a single try left it enabled and firing.
   */
  private async retire(repo: Repository<SchedulerTask>, row: SchedulerTask | null): Promise<Outcome> {
    const cancelled = new Set<number>();
    for (let attempt = 0; attempt < MAX_TRIES && row !== null && row.declaredHash !== null; attempt++) {
      const read: SchedulerTask = row;
      const retired = await this.cancelAheadThen(read, cancelled, async (givenBack, manager) => {
        const changes = { ...givenBack, enabled: false, nextRunAt: null, declaredHash: null, version: read.version + 1, updatedAt: new Date(this.clock.now()) };
        return this.compareAndSet(repo, read, changes, manager);
      });
      if (retired) {
        this.logger.warn(`schedule '${read.scheduleKey}' (${read.taskId}, ${read.taskType}) disabled: no @Scheduled declares it any more`);
        return 'disabled';
      }
      row = await retryTransient(() => repo.findOneBy({ taskId: read.taskId }));
    }
    // gone, or retired by another instance meanwhile
    if (row === null || row.declaredHash === null) return 'unchanged';
    throw new Error(`schedule '${row.scheduleKey}' (${row.taskId}): could not disable it, its row kept changing (${MAX_TRIES} tries)`);
  }

  /** SchedulerService.cancelAheadThen; without a scheduler nothing was queued ahead. */
  private cancelAheadThen<T>(row: SchedulerTask, cancelled: Set<number>, write: (givenBack: GivenBack | null, manager?: EntityManager) => Promise<T>): Promise<T> {
    return this.scheduler ? this.scheduler.cancelAheadThen(row, cancelled, write) : write(null);
  }

  /** `manager`: in a change's transaction, which is run again whole after a transient error, not statement by statement. */
  private async compareAndSet(repo: Repository<SchedulerTask>, row: SchedulerTask, changes: Partial<SchedulerTask>, manager?: EntityManager): Promise<boolean> {
    const update = () =>
      (manager ? manager.getRepository(SchedulerTask) : repo)
        .createQueryBuilder()
        .update(SchedulerTask)
        .set(changes as never)
        .where('task_id = :id AND version = :version', { id: row.taskId, version: row.version })
        .execute();
    const result = manager ? await update() : await retryTransient(update);
    return result.affected === 1;
  }

  private report(what: string, nextRunAt: Date | null, note?: string): void {
    if (note) this.logger.warn(`${what}; stored disabled: ${note}`);
    else this.logger.log(`${what}; next run ${nextRunAt?.toISOString() ?? 'none (disabled)'}`);
  }
}

/** The insert hit a unique index (here: another instance inserted the same schedule_key first). */
function isUniqueViolation(err: unknown): boolean {
  const { code } = driverErrorOf(err);
  return code === 'ER_DUP_ENTRY' || code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}
