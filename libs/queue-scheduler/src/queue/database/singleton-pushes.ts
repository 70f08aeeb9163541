import type { QueryRunner } from 'typeorm';
import type { Sql } from '../../database/sql';
import type { LibraryLogger } from '../../queue-scheduler.logger';
import type { NormalizedTask, SingletonRule } from '../task-validation';
import type { TaskInserts } from './task-inserts';
import { debounceStanding, ensureSlot, lockSlot, lockStanding, takeSlot } from './statements/singleton';

interface Slot {
  taskId: string;
  acceptedAt: number;
}

/**
 * Pushes with a `singletonKey` on the database backend. The key's row in
 * `task_singleton` is locked (its primary key is the unique index) in the
 * transaction that also inserts the task, so instances pushing one key take
 * turns, and each sees what the one before it committed: never a read of
 * the key, then a write another instance raced.
 */
export class SingletonPushes {
  constructor(
    private readonly sql: Sql,
    private readonly inserts: TaskInserts,
    private readonly logger: LibraryLogger,
  ) {}

  /** Pushes `tasks` in order in one transaction; returns the id that stands for each, and the tasks inserted. */
  push(tasks: NormalizedTask[]): Promise<{ ids: string[]; inserted: NormalizedTask[] }> {
    return this.sql.transaction(async (runner) => {
      // every key locked first, in one order: two batches sharing keys cannot each hold one the other waits for
      const keys = [...new Set(tasks.flatMap((t) => (t.singleton ? [t.singleton.key] : [])))].sort();
      const slots = new Map<string, Slot>();
      for (const key of keys) slots.set(key, await this.lock(key, runner));
      const ids: string[] = [];
      const inserted: NormalizedTask[] = [];
      for (const task of tasks) {
        const rule = task.singleton;
        const standing = rule ? await this.standing(task, rule, slots.get(rule.key)!, runner) : undefined;
        if (standing !== undefined) {
          ids.push(standing);
          continue;
        }
        const [queued] = await this.inserts.insert([task], runner);
        if (queued) inserted.push(queued);
        // an id still pending or running queued nothing: the key stays with whoever held it
        if (queued && rule) slots.set(rule.key, await this.take(rule.key, task.taskId, runner));
        ids.push(task.taskId);
      }
      return { ids, inserted };
    });
  }

  private async lock(key: string, runner: QueryRunner): Promise<Slot> {
    const ensure = ensureSlot(this.sql, key);
    await this.sql.affected(ensure.text, ensure.params, runner);
    const { text, params } = lockSlot(this.sql, key);
    const [row] = await this.sql.rows<{ task_id: string; accepted_at: string | number }>(text, params, runner);
    return { taskId: row.task_id, acceptedAt: Number(row.accepted_at) };
  }

  private async take(key: string, taskId: string, runner: QueryRunner): Promise<Slot> {
    const slot = { taskId, acceptedAt: Date.now() };
    const { text, params } = takeSlot(key, taskId, slot.acceptedAt);
    await this.sql.affected(text, params, runner);
    return slot;
  }

  /** The id that stands for this push under its rule, or undefined when the push is accepted. */
  private async standing(task: NormalizedTask, rule: SingletonRule, slot: Slot, runner: QueryRunner): Promise<string | undefined> {
    if (slot.taskId === '') return undefined;
    if (rule.mode === 'throttle') {
      if (Date.now() >= slot.acceptedAt + rule.ms) return undefined;
      this.logger.debug(`push of type '${task.type}' dropped: task ${slot.taskId} took throttle key '${rule.key}' less than ${rule.ms} ms ago`);
      return slot.taskId;
    }
    const lock = lockStanding(this.sql, slot.taskId);
    const [row] = await this.sql.rows<{ status: string; retry_count: string | number; singleton_key: string | null }>(lock.text, lock.params, runner);
    // only a task not yet started holds the key: running, waiting for a retry, finished or purged, it does not
    if (!row || row.status !== 'pending' || Number(row.retry_count) > 0 || row.singleton_key !== rule.key) return undefined;
    if (rule.mode === 'debounce') {
      const { text, params } = debounceStanding(slot.taskId, task.params, task.runAtMs);
      await this.sql.affected(text, params, runner);
      this.logger.debug(`push of type '${task.type}' folded into pending task ${slot.taskId} of debounce key '${rule.key}': new params, starts at ${new Date(task.runAtMs).toISOString()}`);
    } else {
      this.logger.debug(`push of type '${task.type}' dropped: pending task ${slot.taskId} holds singleton key '${rule.key}'`);
    }
    return slot.taskId;
  }
}
