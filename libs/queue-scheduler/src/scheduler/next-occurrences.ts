import type { SchedulerTask } from '../entities/scheduler-task.entity';
import { describeValue, InvalidArgumentError, InvalidScheduleError } from '../errors/errors';
import { assertScheduleSpec, nextOccurrence, type ScheduleType } from './math/schedule-math';
import { checkIntervalSeconds, toDate } from './schedule-input';

/**
 * The timing of a schedule: the fields of `addSchedule` that decide when it
 * runs. A stored `SchedulerTask` row has them all.
 * @publicApi
 */
export interface ScheduleTiming {
  scheduleType: ScheduleType;
  /** interval: seconds between runs. */
  intervalSeconds?: number | null | undefined;
  /** cron: 5 fields, or 6 with seconds first. */
  cronExpression?: string | null | undefined;
  /** IANA zone of a cron expression. @default 'UTC' */
  timezone?: string | null | undefined;
  /** once: when it fires (nextOccurrences also takes epoch ms, as addSchedule does). */
  executeAt?: Date | null | undefined;
  /** > 0: no more runs than this, counting `runCount` already done. @default 0 (no limit) */
  maxRuns?: number | null | undefined;
  /** Runs already done, counted against `maxRuns`. @default 0 */
  runCount?: number | null | undefined;
}

/** More than a page of upcoming runs is a loop in the caller, and a cron walk costs per step. */
export const MAX_OCCURRENCES = 1000;

export function checkCount(count: unknown): number {
  if (!Number.isInteger(count) || (count as number) < 0 || (count as number) > MAX_OCCURRENCES) {
    throw new InvalidArgumentError('count', `count must be an integer from 0 to ${MAX_OCCURRENCES}, got ${describeValue(count)}`);
  }
  return count as number;
}

function checkFrom(from: unknown): Date {
  if (!(from instanceof Date) || !Number.isFinite(from.getTime())) throw new InvalidArgumentError('from', `from must be a valid Date, got ${describeValue(from)}`);
  return from;
}

function runsLeft(timing: ScheduleTiming): number {
  const { maxRuns, runCount } = timing;
  if (maxRuns !== undefined && maxRuns !== null && (!Number.isInteger(maxRuns) || maxRuns < 0)) {
    throw new InvalidScheduleError('maxRuns', `maxRuns must be an integer >= 0, got ${describeValue(maxRuns)}`);
  }
  if (runCount !== undefined && runCount !== null && (!Number.isInteger(runCount) || runCount < 0)) {
    throw new InvalidScheduleError('runCount', `runCount must be an integer >= 0, got ${describeValue(runCount)}`);
  }
  return maxRuns ? Math.max(0, maxRuns - (runCount ?? 0)) : Infinity;
}

/** Up to `count` occurrences strictly after `after`, each the next one after the previous (what the firing loop does). */
function chain(timing: ScheduleTiming, after: Date, count: number): Date[] {
  const out: Date[] = [];
  for (let t = nextOccurrence(timing, after); t !== null && out.length < count; t = nextOccurrence(timing, t)) out.push(t);
  return out;
}

/**
 * The next `count` run times of a schedule with this timing created at
 * `from`, strictly after it, computed by the scheduler's own maths (time
 * zone and DST rules included), so they are the times it would fire:
 * interval `from + k × intervalSeconds`; cron the expression's next times in
 * its zone (a time a spring-forward skips runs once at the jump, a repeated
 * time once); once `executeAt` if it is after `from`. `maxRuns` caps the list.
 * Bad input throws `InvalidScheduleError` (timing fields) or
 * `InvalidArgumentError` (`count`, `from`) naming the field.
 *
 * @example
 * nextOccurrences({ scheduleType: 'cron', cronExpression: '30 2 * * *', timezone: 'Europe/Berlin' }, 5, new Date('2026-03-26T12:00:00Z'))
 * // 03-27 01:30Z, 03-28 01:30Z, 03-29 01:00Z (03:00 CEST: 02:30 does not exist), 03-30 00:30Z, 03-31 00:30Z
 * @publicApi
 */
export function nextOccurrences(given: ScheduleTimingInput, count = 5, from: Date = new Date()): Date[] {
  const n = checkCount(count);
  const after = checkFrom(from);
  // a timing addSchedule would refuse has no runs to predict: the same rule, the same error
  if (given?.scheduleType === 'interval') checkIntervalSeconds(given.intervalSeconds);
  const timing: ScheduleTiming = given?.scheduleType === 'once' && typeof given.executeAt === 'number' ? { ...given, executeAt: toDate('executeAt', given.executeAt) } : (given as ScheduleTiming);
  assertScheduleSpec(timing);
  return chain(timing, after, Math.min(n, runsLeft(timing)));
}

/** A timing to predict: `executeAt` may be epoch ms, as addSchedule takes it. @publicApi */
export type ScheduleTimingInput = ScheduleTiming | (Omit<ScheduleTiming, 'executeAt'> & { executeAt: number });

/**
 * A stored schedule's upcoming runs as the scheduler will fire them: none
 * while paused or finished; its `nextRunAt` and each next one after it, at
 * most the runs `maxRuns` leaves. Given `from`, those of that same sequence
 * strictly after `from`: the ones at or before it still count against
 * `maxRuns`, and nothing before `nextRunAt` is listed (the scheduler never fires it).
 */
export function upcomingRuns(row: SchedulerTask, count = 5, from?: Date): Date[] {
  const want = checkCount(count);
  const left = runsLeft(row);
  if (from !== undefined) checkFrom(from);
  if (!row.enabled || !row.nextRunAt || want === 0 || left === 0) return [];
  const next = new Date(row.nextRunAt);
  const timing = { ...row, maxRuns: 0 };
  assertScheduleSpec(timing);
  if (from === undefined || next > from) return [next, ...chain(timing, next, Math.min(want, left) - 1)];
  if (row.scheduleType === 'interval') {
    const ms = Math.round((row.intervalSeconds ?? 0) * 1000);
    const passed = Math.floor((from.getTime() - next.getTime()) / ms) + 1;
    const first = next.getTime() + passed * ms;
    return Array.from({ length: Math.max(0, Math.min(want, left - passed)) }, (_, i) => new Date(first + i * ms));
  }
  if (left === Infinity) return nextOccurrences(timing, want, from);
  // the runs up to `from` use up maxRuns: walk them (at most `left` steps, the cap bounds the walk)
  let passed = 0;
  let t: Date | null = next;
  while (t !== null && t <= from && passed < left) {
    passed++;
    t = nextOccurrence(timing, t);
  }
  if (t === null || passed >= left) return [];
  return [t, ...chain(timing, t, Math.min(want, left - passed) - 1)];
}
