import { describeValue, InvalidOptionsError, InvalidScheduleError } from '../../errors/errors';
import { assertCron, assertTimezone, compileCron, type Cron, cronAfter, cronAtOrBefore } from './cron-walk';

export { assertCron, assertTimezone };

export type ScheduleType = 'interval' | 'cron' | 'once';
export type MisfirePolicy = 'fire_once' | 'fire_all' | 'skip';

export interface ScheduleSpec {
  scheduleType: ScheduleType;
  intervalSeconds?: number | null;
  cronExpression?: string | null;
  /** IANA; null/undefined => 'UTC' */
  timezone?: string | null;
  /** for 'once' */
  executeAt?: Date | null;
}

export interface FirePlan {
  /** Scheduled times to enqueue now, ascending. */
  fire: Date[];
  /** New next_run_at; null => no more occurrences. */
  next: Date | null;
  /** Late occurrences not fired. Exact for interval and once; for cron exact up to maxCatchUp + 1, extrapolated beyond. */
  missed: number;
}

const POLICIES: readonly MisfirePolicy[] = ['fire_once', 'fire_all', 'skip'];
type Compiled = { kind: 'interval'; ms: number } | Cron | { kind: 'once'; at: number };

function instant(d: unknown, field: string): number {
  if (!(d instanceof Date) || !Number.isFinite(d.getTime())) throw new InvalidScheduleError(field, `${field} must be a valid Date, got ${describeValue(d)}`);
  return d.getTime();
}

function compile(spec: ScheduleSpec): Compiled {
  if (spec === null || typeof spec !== 'object') throw new InvalidScheduleError('schedule', `schedule must be an object, got ${describeValue(spec)}`);
  assertTimezone(spec.timezone ?? 'UTC');
  const s = spec.intervalSeconds;
  switch (spec.scheduleType) {
    case 'interval':
      if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0) {
        throw new InvalidScheduleError('intervalSeconds', `intervalSeconds must be a positive finite number, got ${describeValue(s)}`);
      }
      // Dates hold whole milliseconds: a sub-ms period would round to 0 and never advance.
      if (Math.round(s * 1000) < 1) throw new InvalidScheduleError('intervalSeconds', `intervalSeconds must be at least 0.001, got ${describeValue(s)}`);
      return { kind: 'interval', ms: Math.round(s * 1000) };
    case 'cron':
      return compileCron(spec.cronExpression, spec.timezone ?? 'UTC');
    case 'once':
      return { kind: 'once', at: instant(spec.executeAt, 'executeAt') };
    default:
      throw new InvalidScheduleError('scheduleType', `scheduleType must be one of interval, cron, once, got ${describeValue(spec.scheduleType)}`);
  }
}

const toDate = (t: number | null): Date | null => (t === null ? null : new Date(t));

function nextAfter(c: Compiled, t: number): number | null {
  if (c.kind === 'interval') return t + c.ms;
  return c.kind === 'once' ? (c.at > t ? c.at : null) : cronAfter(c, t);
}

/** Validates a whole spec, with the same errors as the functions below. */
export function assertScheduleSpec(spec: ScheduleSpec): void {
  compile(spec);
}

/** First occurrence strictly after `after`. interval: anchored on `after` itself. once: executeAt if > after, else null. */
export function nextOccurrence(spec: ScheduleSpec, after: Date): Date | null {
  return toDate(nextAfter(compile(spec), instant(after, 'after')));
}

/** Most recent occurrence <= `at` (cron; once: executeAt if <= at). An interval has no anchor to count back from. */
export function previousCronOccurrence(spec: ScheduleSpec, at: Date): Date | null {
  const c = compile(spec);
  const t = instant(at, 'at');
  if (c.kind === 'interval') throw new InvalidScheduleError('scheduleType', `previousCronOccurrence needs a cron or once schedule, got 'interval'`);
  return toDate(c.kind === 'once' ? (c.at <= t ? c.at : null) : cronAtOrBefore(c, t));
}

/**
 * `last` and the occurrences before it, newest first, down to and including
 * the first at or before `floor` (the one before the range), at most `limit`.
 * interval: on the grid through `last`; once: `last` alone.
 */
export function occurrencesDownTo(spec: ScheduleSpec, last: Date, floor: Date, limit: number): Date[] {
  const c = compile(spec);
  const [l, f] = [instant(last, 'last'), instant(floor, 'floor')];
  const out: number[] = [];
  for (let t: number | null = l; t !== null && out.length < limit; ) {
    out.push(t);
    if (t <= f || c.kind === 'once') break;
    t = c.kind === 'interval' ? t - c.ms : cronAtOrBefore(c, t - 1);
  }
  return out.map((t) => new Date(t));
}

/**
 * Where a changed schedule's next run is looked for: `now`, or its last run
 * when that is still ahead. An occurrence claimed ahead of its time that the
 * change could not give back (another instance's memory queue holds it) still
 * runs: looked for from `now`, a cron's next run was that same occurrence,
 * claimed and run a second time.
 */
export function changedFrom(now: number, lastRun: Date | null | undefined): Date {
  return new Date(lastRun && lastRun.getTime() > now ? lastRun.getTime() : now);
}

/**
 * First next_run_at of a new or resumed schedule: interval now + interval; cron next after now; once executeAt,
 * even if past. `lastRun` (a resumed cron's last run): a time repeated by a fall-back that it already ran on
 * the first pass is not run again on the second.
 */
export function initialRun(spec: ScheduleSpec, now: Date, lastRun?: Date | null): Date | null {
  const c = compile(spec);
  const n = instant(now, 'now');
  if (c.kind === 'cron') return toDate(cronAfter(c, n, lastRun ? Math.min(n, instant(lastRun, 'lastRun')) : n));
  return toDate(c.kind === 'once' ? c.at : nextAfter(c, n));
}

/** Decides what to enqueue for a row whose next_run_at `due` is <= `now`, and its new next_run_at. */
export function planFire(spec: ScheduleSpec, due: Date, now: Date, policy: MisfirePolicy, graceMs: number, maxCatchUp: number): FirePlan {
  const c = compile(spec);
  const [d, n] = [instant(due, 'due'), instant(now, 'now')];
  if (!POLICIES.includes(policy)) throw new InvalidScheduleError('misfirePolicy', `misfirePolicy must be one of ${POLICIES.join(', ')}, got ${describeValue(policy)}`);
  if (typeof graceMs !== 'number' || !(graceMs >= 0)) throw new InvalidOptionsError('graceMs', `graceMs must be a number >= 0, got ${describeValue(graceMs)}`);
  if (!Number.isInteger(maxCatchUp) || maxCatchUp < 1) throw new InvalidOptionsError('maxCatchUp', `maxCatchUp must be an integer >= 1, got ${describeValue(maxCatchUp)}`);
  if (d > n) return { fire: [], next: new Date(d), missed: 0 }; // not due yet: leave the row as it is
  const late = n - d > graceMs;
  if (c.kind === 'once') return late && policy === 'skip' ? { fire: [], next: null, missed: 1 } : { fire: [new Date(d)], next: null, missed: 0 };
  // On time: this one run; the next is anchored on the scheduled time (fixed rate, no drift). If that is past
  // too, the caller loops and each run is again on time within grace.
  if (!late) return { fire: [new Date(d)], next: toDate(nextAfter(c, d)), missed: 0 };

  // Misfire. `recent`: the latest occurrences in [due, now], ascending; `total`: how many there are in all.
  let recent: number[], total: number, next: number | null;
  if (c.kind === 'interval') {
    const k = Math.floor((n - d) / c.ms); // due + k*ms is the latest occurrence <= now
    const keep = Math.min(k + 1, maxCatchUp);
    recent = Array.from({ length: keep }, (_, i) => d + (k - keep + 1 + i) * c.ms);
    [total, next] = [k + 1, d + (k + 1) * c.ms];
  } else {
    // prev() jumps back from now, at most maxCatchUp + 1 of them however long the downtime. `due` counts even
    // when the expression was edited since and it is no longer an occurrence.
    const back: number[] = [];
    let cur = cronAtOrBefore(c, n);
    for (; cur !== null && cur > d && back.length <= maxCatchUp; cur = cronAtOrBefore(c, cur - 1)) back.push(cur);
    const complete = cur === null || cur <= d;
    recent = [...(complete ? [d] : []), ...back.reverse()];
    // Beyond the walk, extrapolate at the walked spacing: `missed` feeds a log line, not accounting.
    const spacing = (recent[recent.length - 1] - recent[0]) / (recent.length - 1);
    total = complete ? recent.length : recent.length + Math.max(1, Math.round((recent[0] - d) / spacing));
    // judged against the last run, so a time repeated by a fall-back is not run twice across a misfire
    next = cronAfter(c, n, policy === 'skip' ? d - 1 : recent[recent.length - 1]);
  }
  if (policy === 'skip') return { fire: [], next: toDate(next), missed: total };
  if (policy === 'fire_once') return { fire: [new Date(recent[recent.length - 1])], next: toDate(next), missed: total - 1 };
  // fire_all keeps the LATEST maxCatchUp runs: after a long outage the schedule catches up to now, and what it
  // drops is the stalest work, which matters least.
  const fire = recent.slice(-maxCatchUp).map((t) => new Date(t));
  return { fire, next: toDate(next), missed: total - fire.length };
}
