import type { FirePlan } from './math/schedule-math';
import type { TaskQueue } from '../queue/task-queue';
import { cancelQuietly } from './ahead-occurrences';
import type { DueSchedule, RowMove } from './schedule-claims';

const SWEEP_EVERY_MS = 1000;

interface Held {
  /** The row's version and run count as this instance's last claim wrote them. */
  version: number;
  runCount: number;
  /** last_run_at before the first held occurrence. */
  before: number | null;
  occurrences: Array<{ at: number; taskId: string }>;
}

/**
 * Occurrences this instance claimed ahead of their time into a queue that
 * dies with the process (the memory backend). On stop they are cancelled and
 * given back to their rows, so a graceful restart loses none of them; the
 * durable backends keep them in the queue instead.
 */
export class HeldOccurrences {
  private readonly rows = new Map<string, Held>();
  private sweptAt = -Infinity;

  /**
   * Records a claim of `row` (read at `row.version`, written as version + 1). Called for every row of every claim:
   * it builds only the held entries (no array of all the occurrences, no objects merged), the largest of the
   * scheduler's own frames at 1,000 schedules a second before.
   */
  note(row: DueSchedule, plan: FirePlan, ids: string[], now: number): void {
    const fire = plan.fire;
    const prev = this.rows.get(row.taskId);
    if (prev && prev.version === row.version) {
      // the row is as this instance left it: its new occurrences follow the held ones
      prev.version = row.version + 1;
      prev.runCount = row.runCount + fire.length;
      appendHeld(fire, ids, 0, prev.occurrences);
      this.prune(row.taskId, prev, now);
      return;
    }
    let first = 0;
    while (first < fire.length && fire[first].getTime() <= now) first++;
    if (first === fire.length) {
      this.rows.delete(row.taskId);
      return;
    }
    const occurrences = appendHeld(fire, ids, first, []);
    const before = first > 0 ? fire[first - 1].getTime() : (row.lastRunAt?.getTime() ?? null);
    this.rows.set(row.taskId, { version: row.version + 1, runCount: row.runCount + fire.length, before, occurrences });
  }

  /**
   * Forgets the occurrences whose time has come: they are the queue's to run
   * now. At most once a second: it walks every row held, and the loop ticks
   * many times a second with thousands of schedules; a row claimed again is
   * pruned by `note` anyway, and one left unpruned is a few past entries,
   * which `cancelAll` tells apart from the held ones by their time.
   */
  sweep(now: number): void {
    if (now - this.sweptAt < SWEEP_EVERY_MS && now >= this.sweptAt) return;
    this.sweptAt = now;
    for (const [id, held] of this.rows) this.prune(id, held, now);
  }

  get size(): number {
    return this.rows.size;
  }

  /**
   * Cancels every held occurrence still ahead of `now`, newest first per row,
   * and returns the moves that give them back (compare-and-set on the version
   * this instance wrote: a row changed since keeps the change).
   */
  async cancelAll(queue: TaskQueue, now: number): Promise<{ moves: RowMove[]; cancelled: number }> {
    const moves: RowMove[] = [];
    let cancelled = 0;
    for (const [id, held] of this.rows) {
      const { occurrences } = held;
      let keep = occurrences.length;
      while (keep > 0 && occurrences[keep - 1].at > now && (await cancelQuietly(queue, occurrences[keep - 1].taskId))) keep--;
      const taken = occurrences.length - keep;
      if (taken === 0) continue;
      cancelled += taken;
      const runs = held.runCount - taken;
      moves.push({ taskId: id, next: occurrences[keep].at, last: keep > 0 ? occurrences[keep - 1].at : held.before, runs, version: held.version });
    }
    this.rows.clear();
    return { moves, cancelled };
  }

  private prune(id: string, held: Held, now: number): void {
    const { occurrences } = held;
    let due = 0;
    while (due < occurrences.length && occurrences[due].at <= now) due++;
    if (due === occurrences.length) {
      this.rows.delete(id);
    } else if (due > 0) {
      held.before = occurrences[due - 1].at;
      // a row holds the few occurrences of one lookahead: moved down in place, no array of the removed ones
      occurrences.copyWithin(0, due);
      occurrences.length -= due;
    }
  }
}

/** Appends the occurrences of `fire` from index `from` (with their task ids) to `into`. */
function appendHeld(fire: Date[], ids: string[], from: number, into: Held['occurrences']): Held['occurrences'] {
  for (let i = from; i < fire.length; i++) into.push({ at: fire[i].getTime(), taskId: ids[i] });
  return into;
}
