import { TaskNotFoundError } from '../errors/errors';
import type { TaskQueue } from '../queue/task-queue';
import { occurrencesDownTo, type ScheduleSpec } from './math/schedule-math';

/** Occurrence task ids, deterministic so that a repeated push of one occurrence is deduplicated. */
export function occurrenceTaskId(scheduleId: string, scheduledAt: Date, tag = ''): string {
  return `${scheduleId}:${tag}${scheduledAt.getTime()}`;
}

/** A schedule row's state as far as occurrences queued ahead go. */
export interface AheadState extends ScheduleSpec {
  taskId: string;
  lastRunAt: Date | null;
  nextRunAt: Date | null;
  runCount: number;
  maxRuns: number;
  enabled: boolean;
}

/** The row as it would be had the cancelled occurrences never been claimed. */
export interface GivenBack {
  nextRunAt: Date | null;
  lastRunAt: Date | null;
  runCount: number;
  enabled: boolean;
}

/**
 * More than a claim can queue ahead: lookaheadMs is at most an hour and a
 * claim takes at most maxCatchUp occurrences of a row per look.
 */
const WALK_LIMIT = 100_000;

/**
 * cancelTask of an occurrence that has not started, with "no such task here"
 * (the memory queue of another instance holds it, or it was never queued) as
 * false. One that started is left to run: a schedule change never aborts a run.
 */
export async function cancelQuietly(queue: TaskQueue, taskId: string, waitForPushMs = 0): Promise<boolean> {
  const until = Date.now() + waitForPushMs;
  for (;;) {
    try {
      return await queue.cancelTask(taskId, { running: false });
    } catch (err) {
      if (!(err instanceof TaskNotFoundError)) throw err;
      // a shared queue: not there once the wait is over, its claimer stopped between claim and push, and nothing will run it
      if (waitForPushMs === 0 || Date.now() >= until) return waitForPushMs > 0;
      await new Promise((resolve) => setTimeout(resolve, PUSH_POLL_MS));
    }
  }
}

/**
 * How long a change waits for an occurrence of a shared queue that is not there yet: another instance has
 * claimed it and not yet pushed it (on Redis the claim commits in SQL, the push follows in Redis). Cancelling
 * stopped at it, and the occurrences an earlier try of the change had cancelled were then neither run nor given
 * back (an audit: 3 to 8 of ~45 per-second runs lost, run_count counting them).
 */
export const PUSH_WAIT_MS = 2000;
const PUSH_POLL_MS = 20;

function finished(row: Pick<AheadState, 'scheduleType' | 'maxRuns'>, runCount: number): boolean {
  return (row.maxRuns > 0 && runCount >= row.maxRuns) || (row.scheduleType === 'once' && runCount > 0);
}

/** `row`'s occurrences in (now, last_run_at], newest first, then the one before them when there is one. */
function walkAhead(row: AheadState, now: number): Date[] {
  if (!row.lastRunAt || row.lastRunAt.getTime() <= now) return [];
  return occurrencesDownTo(row, row.lastRunAt, new Date(now), WALK_LIMIT);
}

/** The row with the newest `taken` occurrences of `walk` given back. */
function givenBack(row: AheadState, walk: Date[], taken: number): GivenBack {
  const runCount = Math.max(0, row.runCount - taken);
  const prior = walk[taken] && runCount > 0 ? walk[taken] : null;
  // a claim that took the last run of a once or of maxRuns disabled the row: giving that run back enables it again
  const enabled = row.enabled || (row.nextRunAt === null && finished(row, row.runCount) && !finished(row, runCount));
  return { nextRunAt: walk[taken - 1], lastRunAt: prior, runCount, enabled };
}

/** The row as it will be if every occurrence queued ahead is cancelled; null when none is ahead. Cancels nothing. */
export function assumeGivenBack(row: AheadState, now: number): GivenBack | null {
  const walk = walkAhead(row, now);
  const ahead = walk.filter((at) => at.getTime() > now).length;
  return ahead ? givenBack(row, walk, ahead) : null;
}

/** How cancelAhead cancels: `cancel`, the database backend's cancel in the change's transaction; `clock`, now. */
export interface CancelHow {
  cancel?: (taskId: string) => Promise<boolean>;
  clock?: () => number;
}

/**
 * Cancels the occurrences of `row` that a claim queued ahead of their time
 * (those in (now, last_run_at]), newest first, and stops at the first that
 * cannot be cancelled (it started, or another instance's memory queue holds
 * it), so what is cancelled is always the row's latest claimed occurrences.
 * On a shared queue one claimed and not yet pushed is waited for (PUSH_WAIT_MS).
 * `cancelled` carries the times cancelled by an earlier try of the same
 * change (they no longer cancel, but they were). Returns the row's state as
 * if those occurrences had never been claimed, or null when none was.
 */
export async function cancelAhead(queue: TaskQueue, row: AheadState, now: number, cancelled: Set<number>, how: CancelHow = {}): Promise<GivenBack | null> {
  // what an earlier try cancelled counts even once its time has come (the retry came later): the walk goes down to it
  let floor = now;
  for (const at of cancelled) floor = Math.min(floor, at - 1);
  const walk = walkAhead(row, floor);
  // another instance's memory queue holds what is not in this one's: waiting would not bring it
  const waitForPushMs = queue.capabilities.durable ? PUSH_WAIT_MS : 0;
  let taken = 0;
  for (const at of walk) {
    const time = at.getTime();
    if (!cancelled.has(time)) {
      // read again at each: walked from one reading, an occurrence that came due meanwhile (its flow's children started)
      // was cancelled, and given back it ran again
      if (time <= Math.max(now, how.clock?.() ?? now)) break;
      const id = occurrenceTaskId(row.taskId, at);
      if (!(await (how.cancel ? how.cancel(id) : cancelQuietly(queue, id, waitForPushMs)))) break;
      cancelled.add(time);
    }
    taken++;
  }
  return taken ? givenBack(row, walk, taken) : null;
}
