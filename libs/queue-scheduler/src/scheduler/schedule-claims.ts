import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { dialectOfDataSource, Sql } from '../database/sql';
import type { MisfirePolicy, ScheduleType } from './math/schedule-math';
import type { ClaimableSchedule } from './claim-plan';
import type { ClaimPlan, OverlapPolicy } from './overlap';
import type { ScheduleFlow } from '../interfaces/schedule.interface';

/** A schedule row as the loop reads it: the columns it needs, no entity. */
export interface DueSchedule extends ClaimableSchedule {
  taskId: string;
  name: string;
  taskType: string;
  params: Record<string, unknown>;
  scheduleType: ScheduleType;
  lastRunAt: Date | null;
  priority: number;
  overlap: OverlapPolicy;
  /** A flow schedule's children template; null for a plain schedule. */
  flow: ScheduleFlow | null;
  version: number;
}

export interface ClaimedSchedule {
  row: DueSchedule;
  plan: ClaimPlan;
}

/** A claim's plan for a row; null leaves the row as it is (a 'wait' schedule whose previous run is unfinished). */
export type PlanRow = (row: DueSchedule) => ClaimPlan | null | Promise<ClaimPlan | null>;

/** A row's new timing state, written by a claim or by giving occurrences back. */
export interface RowMove {
  taskId: string;
  next: number | null;
  last: number | null;
  /** claim: runs added; give-back: the new run count. */
  runs: number;
  /** Compare-and-set on the version read (SQLite's claims, give-backs); null: the row is locked by this transaction. */
  version: number | null;
}

const COLUMNS =
  'task_id, name, task_type, params, schedule_type, interval_seconds, cron_expression, timezone, execute_at, last_run_at, next_run_at, run_count, max_runs, misfire_policy, priority, overlap, flow, version';
/**
 * Most rows one claim takes on SQLite, whatever scheduler.batchSize says:
 * there the claim's statements, planning and pushes run on the event loop's
 * thread in one stretch, ~25 µs a row here, so 100 rows held it 2.5 to 5 ms.
 */
const SQLITE_CLAIM_ROWS = 25;
/** Rows one give-back statement moves: bounds the statement's size whatever the number of rows held. */
const MOVE_CHUNK = 500;

type Raw = Record<string, string | number | null>;

const ms = (v: string | number | null): Date | null => (v === null || v === undefined ? null : new Date(Number(v)));

function toDue(r: Raw): DueSchedule {
  return {
    taskId: String(r.task_id),
    name: String(r.name),
    taskType: String(r.task_type),
    params: JSON.parse(String(r.params)) as Record<string, unknown>,
    scheduleType: r.schedule_type as ScheduleType,
    intervalSeconds: r.interval_seconds === null ? null : Number(r.interval_seconds),
    cronExpression: r.cron_expression === null ? null : String(r.cron_expression),
    timezone: r.timezone === null ? null : String(r.timezone),
    executeAt: ms(r.execute_at),
    lastRunAt: ms(r.last_run_at),
    nextRunAt: ms(r.next_run_at)!,
    runCount: Number(r.run_count),
    maxRuns: Number(r.max_runs),
    misfirePolicy: r.misfire_policy as MisfirePolicy,
    priority: Number(r.priority),
    overlap: r.overlap as OverlapPolicy,
    flow: r.flow === null || r.flow === undefined ? null : (JSON.parse(String(r.flow)) as ScheduleFlow),
    version: Number(r.version),
  };
}

/**
 * The scheduler's SQL: raw statements over the columns it needs, so the cost
 * of a look at the table is one indexed read whatever the number of
 * schedules, and a batch of due rows is claimed with a handful of statements.
 */
export class ScheduleClaims {
  private readonly sql: Sql;
  /** FOR UPDATE SKIP LOCKED (MySQL 8, MariaDB 10.6+, PostgreSQL); SQLite has one writer and no row locks. */
  private readonly rowLocks: boolean;

  constructor(dataSource: DataSource) {
    this.sql = new Sql(dataSource, dialectOfDataSource(dataSource));
    this.rowLocks = this.sql.dialect !== 'sqlite';
  }

  /** How many rows one claim asks for, given scheduler.batchSize. */
  claimRows(batchSize: number): number {
    return this.sql.dialect === 'sqlite' ? Math.min(batchSize, SQLITE_CLAIM_ROWS) : batchSize;
  }

  /**
   * The earliest next_run_at (epoch ms) and that row's overlap policy, one
   * read of idx_scheduler_task_next_run_at, leaving out the rows `held`;
   * null when nothing is scheduled.
   */
  async earliest(held: readonly string[] = []): Promise<{ at: number; overlap: OverlapPolicy } | null> {
    const [row] = await this.sql.rows<{ n: string | number; o: string }>(
      `SELECT next_run_at AS n, overlap AS o FROM scheduler_task WHERE next_run_at IS NOT NULL${this.notHeld(held)} ORDER BY next_run_at LIMIT 1`,
      [...held],
    );
    return row ? { at: Number(row.n), overlap: row.o as OverlapPolicy } : null;
  }

  /**
   * Claims up to `limit` rows due by `horizon`, earliest first: `plan` decides
   * each row's occurrences and new next_run_at, and one UPDATE moves every
   * row. With row locks, the rows are read FOR UPDATE SKIP LOCKED in one
   * transaction (the caller's `manager`, so the database backend inserts the
   * tasks in it, or one of its own), so instances take disjoint rows without
   * waiting on each other. On SQLite the UPDATE is a compare-and-set on each
   * row's version and RETURNING names the rows won. `read`: rows found due.
   */
  async claim(
    horizon: number,
    limit: number,
    plan: PlanRow,
    now: number,
    manager?: EntityManager,
    held: readonly string[] = [],
  ): Promise<{ read: number; won: ClaimedSchedule[]; waiting: string[] }> {
    const work = async (runner?: QueryRunner) => {
      const lock = this.rowLocks ? ' FOR UPDATE SKIP LOCKED' : '';
      // a schedule with an overlap policy is claimed only once due: an occurrence queued ahead would be the unfinished run blocking the next
      const due = `next_run_at <= ? AND (overlap = 'allow' OR next_run_at <= ?)${this.notHeld(held)}`;
      const raw = await this.sql.rows<Raw>(`SELECT ${COLUMNS} FROM scheduler_task WHERE ${due} ORDER BY next_run_at LIMIT ${limit}${lock}`, [horizon, now, ...held], runner);
      const claimed: ClaimedSchedule[] = [];
      const waiting: string[] = [];
      for (const row of raw.map(toDue)) {
        const planned = plan(row);
        const p = planned instanceof Promise ? await planned : planned;
        if (p) claimed.push({ row, plan: p });
        else waiting.push(row.taskId);
      }
      if (!claimed.length) return { read: raw.length, won: [], waiting };
      const moves = claimed.map(({ row, plan: p }): RowMove => ({
        taskId: row.taskId,
        next: p.next?.getTime() ?? null,
        last: (p.fire.at(-1) ?? row.lastRunAt)?.getTime() ?? null,
        runs: p.fire.length,
        version: this.rowLocks ? null : row.version,
      }));
      const finished = claimed.filter((c) => c.plan.next === null).map((c) => c.row.taskId);
      if (this.rowLocks) {
        await this.move(moves, now, { addRuns: true, disable: finished }, runner);
        return { read: raw.length, won: claimed, waiting };
      }
      const won = await this.move(moves, now, { addRuns: true, disable: finished, returning: true }, runner);
      return { read: raw.length, won: claimed.filter((c) => won.ids!.has(c.row.taskId)), waiting };
    };
    const runner = manager?.queryRunner;
    if (runner || !this.rowLocks) return work(runner);
    return this.sql.transaction(work);
  }

  /**
   * Gives held occurrences back: each row is set to the given timing state,
   * enabled, if its version is still the one this instance wrote. Returns how
   * many rows were.
   */
  async giveBack(moves: RowMove[], now: number): Promise<number> {
    let moved = 0;
    for (let i = 0; i < moves.length; i += MOVE_CHUNK) moved += (await this.move(moves.slice(i, i + MOVE_CHUNK), now, { addRuns: false, enable: true })).affected;
    return moved;
  }

  private notHeld(held: readonly string[]): string {
    return held.length ? ` AND task_id NOT IN (${this.sql.list(held.length)})` : '';
  }

  /** One UPDATE for all the rows, a CASE on task_id per column; `returning` names the rows it moved (not on MySQL/MariaDB). */
  private async move(
    moves: RowMove[],
    now: number,
    how: { addRuns: boolean; disable?: string[]; enable?: boolean; returning?: boolean },
    runner?: QueryRunner,
  ): Promise<{ affected: number; ids?: Set<string> }> {
    if (this.sql.dialect === 'sqlite') return this.moveJoined(moves, now, how, runner);
    // PostgreSQL types a CASE of bare parameters as text
    const [big, int] = this.sql.dialect === 'postgres' ? ['?::bigint', '?::int'] : ['?', '?'];
    const params: unknown[] = [];
    const byRow = (value: (m: RowMove) => unknown, placeholder: string): string => {
      const whens = moves.map((m) => {
        params.push(m.taskId, value(m));
        return `WHEN ? THEN ${placeholder}`;
      });
      return `CASE task_id ${whens.join(' ')} END`;
    };
    const sets = [`next_run_at = ${byRow((m) => m.next, big)}`, `last_run_at = ${byRow((m) => m.last, big)}`];
    sets.push(`run_count = ${how.addRuns ? 'run_count + ' : ''}${byRow((m) => m.runs, int)}`);
    if (how.enable) sets.push('enabled = TRUE');
    if (how.disable?.length) {
      sets.push(`enabled = CASE WHEN task_id IN (${this.sql.list(how.disable.length)}) THEN FALSE ELSE enabled END`);
      params.push(...how.disable);
    }
    sets.push('version = version + 1', 'updated_at = ?');
    params.push(now);
    let where = `task_id IN (${this.sql.list(moves.length)})`;
    params.push(...moves.map((m) => m.taskId));
    if (moves.some((m) => m.version !== null)) where += ` AND version = ${byRow((m) => m.version, int)}`;
    const update = `UPDATE scheduler_task SET ${sets.join(', ')} WHERE ${where}`;
    if (!how.returning) return { affected: await this.sql.affected(update, params, runner) };
    const rows = await this.sql.rows<{ task_id: string }>(`${update} RETURNING task_id`, params, runner);
    return { affected: rows.length, ids: new Set(rows.map((r) => String(r.task_id))) };
  }

  /**
   * move() on SQLite: the new values as a VALUES table joined on task_id
   * (UPDATE … FROM, SQLite 3.33+). SQLite evaluates a CASE by testing its
   * WHENs in turn, so the CASE form cost every row a scan of the batch per
   * column: 18 ms for a batch of 100 here, on the event loop's thread.
   */
  private async moveJoined(
    moves: RowMove[],
    now: number,
    how: { addRuns: boolean; disable?: string[]; enable?: boolean; returning?: boolean },
    runner?: QueryRunner,
  ): Promise<{ affected: number; ids?: Set<string> }> {
    const params: unknown[] = [];
    const sets = ['next_run_at = v.column2', 'last_run_at = v.column3', `run_count = ${how.addRuns ? 'run_count + ' : ''}v.column4`];
    if (how.enable) sets.push('enabled = TRUE');
    if (how.disable?.length) {
      sets.push(`enabled = CASE WHEN scheduler_task.task_id IN (${this.sql.list(how.disable.length)}) THEN FALSE ELSE enabled END`);
      params.push(...how.disable);
    }
    sets.push('version = version + 1', 'updated_at = ?');
    params.push(now);
    for (const m of moves) params.push(m.taskId, m.next, m.last, m.runs, m.version);
    const values = moves.map(() => '(?, ?, ?, ?, ?)').join(', ');
    let where = 'scheduler_task.task_id = v.column1';
    if (moves.some((m) => m.version !== null)) where += ' AND scheduler_task.version = v.column5';
    const update = `UPDATE scheduler_task SET ${sets.join(', ')} FROM (VALUES ${values}) AS v WHERE ${where}`;
    if (!how.returning) return { affected: await this.sql.affected(update, params, runner) };
    const rows = await this.sql.rows<{ task_id: string }>(`${update} RETURNING scheduler_task.task_id AS task_id`, params, runner);
    return { affected: rows.length, ids: new Set(rows.map((r) => String(r.task_id))) };
  }
}
