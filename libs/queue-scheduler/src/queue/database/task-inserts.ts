import type { QueryRunner } from 'typeorm';
import { driverErrorOf, type Sql } from '../../database/sql';
import type { NormalizedTask } from '../task-validation';
import { lifecycleRows, writeEvents } from './event-log';
import type { Sequence } from './task-rows';
import { insertTasks, insertTasksUnnest, requeueFinished } from './statements/tasks';
import { insertEnds, ROWS_PER_INSERT } from './statements/statement';
import { type FlowRow, flowRows, lockedFlowRow } from './statements/flows';
import { ENDED, leaveFlow } from './settle-parents';

/**
 * The producers' writes of `task_queue`: a push inserts its tasks, and an id
 * that exists already is queued anew only if its task has finished (a
 * pending or running one is left alone, which is pushTask's dedupe rule).
 */
export class TaskInserts {
  /** `events`: queue.clusterEvents, each task inserted also writes its `queued` event, in the same transaction. */
  constructor(
    private readonly sql: Sql,
    private readonly seq: Sequence,
    private readonly events = false,
  ) {}

  /** Inserts the tasks whose id is not pending or running; a finished id is queued anew. Returns those inserted. */
  async insert(tasks: NormalizedTask[], runner?: QueryRunner): Promise<NormalizedTask[]> {
    if (!tasks.length) return [];
    // MySQL's statement is bounded in bytes too: the params' JSON is made once, here, and handed to the statement
    const json = this.sql.dialect === 'mysql' ? tasks.map((t) => JSON.stringify(t.params)) : undefined;
    const ends = insertEnds(tasks.length, ROWS_PER_INSERT, json?.map((j) => j.length));
    if (!this.events && ends.length === 1) return this.insertRows(tasks, json, runner);
    // several statements commit together: a push stores all of its tasks or none
    return runner ? this.insertAll(tasks, json, ends, runner) : this.sql.transaction((own) => this.insertAll(tasks, json, ends, own));
  }

  private async insertAll(tasks: NormalizedTask[], json: string[] | undefined, ends: number[], runner: QueryRunner): Promise<NormalizedTask[]> {
    const inserted: NormalizedTask[] = [];
    let from = 0;
    for (const to of ends) {
      for (const task of await this.insertRows(tasks.slice(from, to), json?.slice(from, to), runner)) inserted.push(task);
      from = to;
    }
    if (this.events && inserted.length) await writeEvents(this.sql, lifecycleRows('queued', inserted, Date.now()), runner);
    return inserted;
  }

  private async insertRows(tasks: NormalizedTask[], json: string[] | undefined, runner?: QueryRunner, round = 1): Promise<NormalizedTask[]> {
    const inserted = this.sql.dialect === 'mysql' ? await this.insertMysql(tasks, json, runner) : await this.insertOnConflict(tasks, runner);
    if (inserted.length === tasks.length) return tasks;
    const taken = new Set(inserted);
    return [...inserted, ...(await this.requeueFinished(tasks.filter((t) => !taken.has(t)), runner, round))];
  }

  /** PostgreSQL and SQLite: ON CONFLICT DO NOTHING skips exactly the rows whose id or occurrence exists, nothing else. */
  private async insertOnConflict(tasks: NormalizedTask[], runner?: QueryRunner): Promise<NormalizedTask[]> {
    const { text, params } = this.sql.dialect === 'postgres' && tasks.length > 1 ? insertTasksUnnest(this.seq, tasks) : insertTasks(this.seq, tasks, true);
    const rows = await this.sql.rows<{ task_id: string }>(text, params, runner);
    if (rows.length === tasks.length) return tasks;
    const ids = new Set(rows.map((r) => r.task_id));
    return tasks.filter((t) => ids.has(t.taskId));
  }

  /**
   * MySQL/MariaDB: a plain INSERT, all or nothing. INSERT IGNORE also turned a
   * failed JSON check, a truncation or a bad string into a warning and dropped
   * or mangled that row while the push returned its id; a duplicate key is the
   * one error to skip, so a batch that meets one is inserted again row by row.
   */
  private async insertMysql(all: NormalizedTask[], allJson: string[] | undefined, runner?: QueryRunner): Promise<NormalizedTask[]> {
    const [tasks, json] = await this.notStored(all, allJson, runner);
    if (tasks.length === 0) return tasks;
    try {
      const { text, params } = insertTasks(this.seq, tasks, false, json);
      await this.sql.affected(text, params, runner);
      return tasks;
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    const inserted: NormalizedTask[] = [];
    for (const [i, t] of tasks.entries()) {
      try {
        const { text, params } = insertTasks(this.seq, [t], false, json && [json[i]]);
        await this.sql.affected(text, params, runner);
        inserted.push(t);
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    }
    return inserted;
  }

  /**
   * MySQL/MariaDB: the tasks whose id (one the producer chose) is not stored yet, read first, each id once (the first
   * of a batch wins). Re-pushing a stored id is pushTask's dedupe rule, not a fault, but the duplicate-key error of
   * its INSERT went to the app's TypeORM logger as "query failed", twice a push. The tasks left out go the way of a
   * duplicate key (requeueFinished); a push racing this read still meets the error, and is handled the same.
   */
  private async notStored(tasks: NormalizedTask[], json: string[] | undefined, runner?: QueryRunner): Promise<[NormalizedTask[], string[] | undefined]> {
    const chosen = tasks.filter((t) => !t.generatedId).map((t) => t.taskId);
    if (chosen.length === 0) return [tasks, json];
    const rows = await this.sql.rows<{ task_id: string }>(`SELECT task_id FROM task_queue WHERE task_id IN (${this.sql.list(chosen.length)})`, chosen, runner);
    const taken = new Set(rows.map((r) => r.task_id));
    if (taken.size === 0 && new Set(chosen).size === chosen.length) return [tasks, json];
    const keep = tasks.map((t) => {
      if (t.generatedId) return true;
      if (taken.has(t.taskId)) return false;
      taken.add(t.taskId);
      return true;
    });
    return [tasks.filter((_, i) => keep[i]), json?.filter((_, i) => keep[i])];
  }

  /**
   * Some ids already existed: queue again those that had finished; leave pending/running ones alone. A row deleted
   * (deleteTask) after the insert met it is neither: nothing holds the id, and the push inserts it after all; it
   * returned the id having stored nothing (a two-instance audit).
   */
  private async requeueFinished(tasks: NormalizedTask[], runner: QueryRunner | undefined, round: number): Promise<NormalizedTask[]> {
    const fresh: NormalizedTask[] = [];
    const gone: NormalizedTask[] = [];
    for (const t of tasks) {
      const { text, params } = requeueFinished(this.seq, t, true);
      if ((await this.sql.affected(text, params, runner)) > 0) {
        // a plain task now: its old children (it was a flow's root) no longer count for it
        await this.sql.affected('UPDATE task_queue SET parent_id = NULL WHERE parent_id = ?', [t.taskId], runner);
      } else {
        const read = flowRows(this.sql, [t.taskId]);
        const [row] = await this.sql.rows<FlowRow>(read.text, read.params, runner);
        if (!row && round < PUSH_ROUNDS) gone.push(t);
        if (!row || row.parent_id === null || !ENDED.has(row.status) || !(await this.requeueChild(t, runner))) continue;
      }
      fresh.push(t);
    }
    return gone.length ? [...fresh, ...(await this.insertRows(gone, undefined, runner, round + 1))] : fresh;
  }

  /**
   * A finished flow child's id pushed again: a plain task now, it leaves its flow in the same transaction (its parent
   * no longer waits for it). Queued anew without that, a parent re-armed for it waited for ever (a flows audit).
   */
  private async requeueChild(t: NormalizedTask, runner?: QueryRunner): Promise<boolean> {
    if (!runner) return this.sql.transaction((own) => this.requeueChild(t, own));
    const locked = lockedFlowRow(this.sql, t.taskId);
    const [row] = await this.sql.rows<FlowRow>(locked.text, locked.params, runner);
    if (!row || !ENDED.has(row.status)) return false;
    const { text, params } = requeueFinished(this.seq, t);
    if ((await this.sql.affected(text, params, runner)) === 0) return false;
    await leaveFlow(this.sql, runner, row);
    return true;
  }
}

/** A push's tries at an id deleted under it; a delete needs the id finished again, so one more try is almost always the last. */
const PUSH_ROUNDS = 4;

/** MySQL's ER_DUP_ENTRY: the id or the occurrence is there already. */
function isDuplicateKey(err: unknown): boolean {
  const { code, errno } = driverErrorOf(err);
  return code === 'ER_DUP_ENTRY' || errno === 1062;
}
