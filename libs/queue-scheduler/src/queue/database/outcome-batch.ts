import type { QueryRunner } from 'typeorm';
import type { Sql } from '../../database/sql';
import { type DiedParent, settleParents } from './settle-parents';
import { eventRows, writeEvents } from './event-log';
import { JOURNAL_MODE, type Outcome, type OutcomeUpdate, outcomeUpdates, returningIds } from './statements/outcomes';

export type { Outcome };

interface Waiting {
  outcome: Outcome;
  /** true: written; false: the try had lost its lease, nothing was written. */
  resolve(written: boolean): void;
  reject(err: unknown): void;
}

/** One UPDATE for outcomes that set the same columns, and the tasks it covers. */
type Statement = OutcomeUpdate<Waiting>;

/** Placeholders stay far below every driver's limit (4 per outcome at most). */
const MAX_BATCH = 500;
/**
 * Results are the handlers' own values, of any size: a batch stops growing past this many bytes of
 * results and errors, so a few large ones cannot push a statement past max_allowed_packet and fail
 * the whole batch (a large value still goes alone, as it did before batching).
 */
const MAX_BATCH_BYTES = 1 << 20;

/** A try that ends (not a retry) a task with a parent: its parent's count changes in the same transaction. */
const endsFlowChild = (w: { outcome: Outcome }): boolean => w.outcome.task.parentId !== undefined && w.outcome.kind !== 'retrying';

const endedChildren = (ws: ReadonlyArray<{ outcome: Outcome }>): string[] => ws.filter(endsFlowChild).map((w) => w.outcome.task.taskId);

/** Thrown inside the MySQL transaction to roll a batch back when some of its tasks had lost their lease. */
class ShortBatch extends Error {}

/**
 * Group commit of finished tries. Each `record()` waits for its outcome to be
 * written, but outcomes are written together: one UPDATE per kind of outcome
 * for everything that arrived since the last write, and at most one write in
 * flight. An idle queue writes at the next turn of the event loop; a busy one
 * gathers whatever finished during the previous write, so the commits (one
 * fsync each) no longer grow with the number of tasks.
 *
 * Every UPDATE keeps the per-task lease check (`status = 'running' AND
 * attempts = n`): a try whose task was reclaimed meanwhile writes nothing and
 * its caller learns it from the `false` it gets back.
 */
export class OutcomeBatch {
  private waiting: Waiting[] = [];
  private writing: Promise<void> | null = null;
  private scheduled = false;
  /** SQLite only: whether the file is in WAL mode (see walMode). */
  private wal?: Promise<boolean>;

  /** Flow parents that died of a child in the transaction under way (one at a time): told once it commits. */
  private died: DiedParent[] = [];

  /** `events`: queue.clusterEvents, each written outcome also writes its `task_event` row, in the same transaction. */
  constructor(
    private readonly sql: Sql,
    private readonly events = false,
    private readonly parentsDied: (parents: DiedParent[]) => void = () => undefined,
  ) {}

  /** Resolves once the outcome is written (true) or found to belong to a lost lease (false); rejects if the write failed. */
  record(outcome: Outcome): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.waiting.push({ outcome, resolve, reject });
      if (this.writing || this.scheduled) return;
      this.scheduled = true;
      // the next turn, not a microtask: a claimed batch of no-op handlers all finish within this one
      setImmediate(() => {
        this.scheduled = false;
        this.start();
      });
    });
  }

  /** Resolves once every outcome recorded so far has been written or has failed. */
  async drain(): Promise<void> {
    while (this.writing || this.waiting.length) {
      this.start();
      await this.writing;
    }
  }

  private start(): void {
    if (this.writing || !this.waiting.length) return;
    this.writing = this.writeAll().finally(() => {
      this.writing = null;
      // recorded after the last batch was taken but before this callback: no one else would start their write
      this.start();
    });
  }

  private async writeAll(): Promise<void> {
    while (this.waiting.length) {
      const batch = this.waiting.splice(0, this.fits());
      const now = Date.now();
      const statements = outcomeUpdates(this.sql, batch, now);
      if (this.sql.dialect === 'mysql') await this.writeInTransaction(statements, now);
      else if (this.events || batch.some(endsFlowChild)) await this.writeWithFollowUps(statements, now);
      else for (const s of statements) await this.writeReturning(s);
    }
  }

  /** How many of the waiting outcomes the next write takes: at least one. */
  private fits(): number {
    let bytes = 0;
    for (let i = 0; i < Math.min(this.waiting.length, MAX_BATCH); i++) {
      const o = this.waiting[i].outcome;
      // a retried try's error and stack are written twice: in their columns and in the stored try
      bytes += (o.kind === 'succeeded' ? (o.result?.length ?? 0) : (o.error.length + o.stack.length) * 2) * 3;
      if (bytes > MAX_BATCH_BYTES && i > 0) return i;
    }
    return MAX_BATCH;
  }

  /** PostgreSQL and SQLite say which rows an UPDATE changed: each statement stands alone, no transaction needed. */
  private async writeReturning(s: Statement): Promise<void> {
    try {
      const rows = await this.sql.rows<{ task_id: string }>(returningIds(s.text), s.params);
      await this.release(s.group, new Set(rows.map((r) => r.task_id)));
    } catch (err) {
      await this.oneByOne(s.group, err);
    }
  }

  /**
   * PostgreSQL and SQLite, a batch with something more to write for its
   * outcomes (their `task_event` rows, a flow child's parent): the UPDATEs
   * and that, in one transaction, so an outcome is never apart from them.
   */
  private async writeWithFollowUps(statements: Statement[], now: number): Promise<void> {
    const all = statements.flatMap((s) => s.group);
    try {
      const written = await this.transaction(async (runner) => {
        const ids = new Set<string>();
        for (const s of statements) for (const r of await this.sql.rows<{ task_id: string }>(returningIds(s.text), s.params, runner)) ids.add(r.task_id);
        await this.followUps(all.filter((w) => ids.has(w.outcome.task.taskId)), now, runner);
        return ids;
      });
      await this.release(all, written);
    } catch (err) {
      await this.oneByOne(all, err);
    }
  }

  /** Tells each caller whether its outcome was written (see walMode for the pace outside WAL). */
  private async release(group: Waiting[], written: ReadonlySet<string>): Promise<void> {
    const oneByOne = this.sql.dialect === 'sqlite' && !(await this.walMode());
    for (const w of group) {
      w.resolve(written.has(w.outcome.task.taskId));
      if (oneByOne) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** What written outcomes bring along in their transaction: their events (queue.clusterEvents), their parents' counts. */
  private async followUps(written: Waiting[], now: number, runner: QueryRunner): Promise<void> {
    if (this.events && written.length) await writeEvents(this.sql, eventRows(written, now), runner);
    if (written.some(endsFlowChild)) this.died.push(...(await settleParents(this.sql, runner, endedChildren(written), Date.now(), this.events)));
  }

  /** Updates by primary key take no gap locks at any level: no SET TRANSACTION round trip before each write. */
  private async transaction<T>(work: (runner: QueryRunner) => Promise<T>): Promise<T> {
    const out = await this.sql.transaction((runner) => ((this.died = []), work(runner)), () => undefined);
    const died = this.died.splice(0);
    if (died.length) this.parentsDied(died);
    return out;
  }

  /**
   * A batch whose write failed (after transient errors were retried) is written
   * again one task per statement: a value one task could not store (PostgreSQL
   * refused a NUL in an error message; a result past the packet size) fails
   * that task's write alone, and the others' outcomes are recorded.
   */
  private async oneByOne(group: Waiting[], batchError: unknown): Promise<void> {
    if (group.length === 1) return group[0].reject(batchError);
    for (const w of group) {
      const now = Date.now();
      const [s] = outcomeUpdates(this.sql, [w], now);
      try {
        if (this.events || endsFlowChild(w)) w.resolve(await this.transaction((runner) => this.writeOne(s, now, runner)));
        else if (this.sql.dialect === 'mysql') w.resolve((await this.sql.affected(s.text, s.params)) === 1);
        else w.resolve((await this.sql.rows(returningIds(s.text), s.params)).length === 1);
      } catch (err) {
        w.reject(err);
      }
    }
  }

  /**
   * better-sqlite3 runs statements synchronously, so everything a released caller sets off (its worker's next
   * claim, the next handlers' statements) runs before the event loop turns. Outside WAL every commit also waits
   * for fsync: released together, a batch's callers became one burst of the next handlers' commits that held
   * back every other continuation (a retry read the clock 170 ms after its handler threw, under load). There
   * the callers go one turn at a time, as their separate writes used to pace them. In WAL (the README's
   * recommendation, with synchronous NORMAL) a commit appends to the log without an fsync: the batch goes at once.
   */
  private walMode(): Promise<boolean> {
    this.wal ??= this.sql.rows<{ journal_mode: string }>(JOURNAL_MODE).then(
      (rows) => rows[0]?.journal_mode?.toLowerCase() === 'wal',
      () => false,
    );
    return this.wal;
  }

  /**
   * MySQL reports only how many rows changed. When a statement changes fewer
   * than it covers, the batch is rolled back and written again one task per
   * statement (still one commit), which tells exactly whose lease was lost.
   */
  private async writeInTransaction(statements: Statement[], now: number): Promise<void> {
    const all = statements.flatMap((s) => s.group);
    try {
      const batched = await this.transaction(async (runner) => {
        for (const s of statements) {
          if ((await this.sql.affected(s.text, s.params, runner)) < s.group.length) throw new ShortBatch();
        }
        await this.followUps(all, now, runner);
        return true;
      }).catch((err: unknown) => {
        if (err instanceof ShortBatch) return false;
        throw err;
      });
      if (batched) {
        for (const w of all) w.resolve(true);
        return;
      }
      const written = await this.transaction(async (runner) => {
        const out: boolean[] = [];
        for (const w of all) {
          const [s] = outcomeUpdates(this.sql, [w], now);
          out.push(await this.writeOne(s, now, runner));
        }
        return out;
      });
      all.forEach((w, i) => w.resolve(written[i]));
    } catch (err) {
      await this.oneByOne(all, err);
    }
  }

  /** One task's UPDATE in the caller's transaction, and what it brings along when it was written; false when its lease was lost. */
  private async writeOne(s: Statement, now: number, runner: QueryRunner): Promise<boolean> {
    const written =
      this.sql.dialect === 'mysql' ? (await this.sql.affected(s.text, s.params, runner)) === 1 : (await this.sql.rows(returningIds(s.text), s.params, runner)).length === 1;
    if (written) await this.followUps(s.group, now, runner);
    return written;
  }
}
