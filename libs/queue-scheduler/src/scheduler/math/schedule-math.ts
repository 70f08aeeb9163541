import { type CronExpression, CronExpressionParser } from 'cron-parser';
import { describeValue, InvalidOptionsError, InvalidScheduleError } from '../../errors/errors';

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

const DAY = 86_400_000;
const POLICIES: readonly MisfirePolicy[] = ['fire_once', 'fire_all', 'skip'];
/**
 * A compiled cron, shared by every schedule with its expression and zone. It
 * remembers its last `cronAfter` question and answer: a claim asks the same
 * one for every row of a common expression due at the same time (1,000
 * per-second schedules ask it 1,000 times a second), and the walk through
 * cron-parser and the zone's offsets is most of a row's planning.
 */
type Cron = { kind: 'cron'; expr: string; tz: string; allHours: boolean; after: number; lastRun: number; next: number | null };
type Compiled = { kind: 'interval'; ms: number } | Cron | { kind: 'once'; at: number };

// Offsets come from Intl only: local-time Date methods would leak the process TZ into the results.
// null marks a zone that is always UTC, so the offset machinery is skipped on the common path.
const formatters = new Map<string, Intl.DateTimeFormat | null>();
function formatter(tz: string): Intl.DateTimeFormat | null {
  if (!formatters.has(tz)) {
    const n = 'numeric';
    const f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: n, month: n, day: n, hour: n, minute: n, second: n });
    formatters.set(tz, f.resolvedOptions().timeZone === 'UTC' ? null : f);
  }
  return formatters.get(tz)!;
}

function offsetAt(tz: string, t: number): number {
  const f = formatter(tz);
  if (!f) return 0;
  const p: Record<string, number> = {};
  for (const { type, value } of f.formatToParts(t)) p[type] = Number(value);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - (t - (((t % 1000) + 1000) % 1000));
}

/** First instant whose offset differs, scanning from `from` towards `to` (backwards: the start of from's offset period). */
function boundary(tz: string, from: number, to: number): number | null {
  if (!formatter(tz)) return null;
  const o = offsetAt(tz, from);
  // Day steps: no zone changes its offset twice within a day.
  for (let p = from; p !== to; ) {
    const q = to > from ? Math.min(p + DAY, to) : Math.max(p - DAY, to);
    if (offsetAt(tz, q) !== o) {
      let [a, b] = to > from ? [p, q] : [q, p];
      const oa = offsetAt(tz, a);
      while (b - a > 1) {
        const m = Math.floor((a + b) / 2);
        [a, b] = offsetAt(tz, m) === oa ? [m, b] : [a, m];
      }
      return b;
    }
    p = q;
  }
  return null;
}

// cron-parser only ever sees a DST-free wall-clock timeline (UTC). Its tz mode resolves DST statefully, so the
// answer depends on where the walk started (from inside a repeated hour it runs a fixed-hour job again; prev()
// misses gap-shifted runs): the DST policy lives in cronAfter/cronAtOrBefore instead. Parsing costs far more
// than stepping, hence the cache; the seed keeps 'H' on the same value across calls and processes.
const parsed = new Map<string, CronExpression>();
function wall(expr: string, w: number, dir: 'next' | 'prev'): number | null {
  let e = parsed.get(expr);
  if (!e) {
    if (parsed.size >= 1000) parsed.clear();
    parsed.set(expr, (e = CronExpressionParser.parse(expr, { tz: 'UTC', hashSeed: expr })));
  }
  e.reset(new Date(dir === 'next' ? w : w + 1)); // prev() is strictly-before; +1 ms makes it at-or-before
  try {
    return (dir === 'next' ? e.next() : e.prev()).getTime();
  } catch (err) {
    if (err instanceof Error && /loop limit/i.test(err.message)) return null;
    throw err;
  }
}

const wallOf = (tz: string, t: number): number => t + offsetAt(tz, t);

/**
 * Whether the written times a spring-forward skips (wall clock [lo, hi)) still get their one run at the jump:
 * only on a local date where they are all the expression has, so a day never loses its only run and a skipped
 * time never adds a run to a day that runs anyway (which would invent a time and crowd the day's own runs).
 */
function gapRuns(c: Cron, lo: number, hi: number): boolean {
  for (let d = lo - (((lo % DAY) + DAY) % DAY); d < hi; d += DAY) {
    const [a, b] = [Math.max(lo, d), Math.min(hi, d + DAY)];
    const skipped = wall(c.expr, a - 1, 'next');
    if (skipped === null || skipped >= b) continue;
    const before = wall(c.expr, a - 1, 'prev');
    const after = wall(c.expr, b - 1, 'next');
    if ((before === null || before < d) && (after === null || after >= d + DAY)) return true;
  }
  return false;
}

/*
 * DST rule, on the wall clock of the schedule's zone (see the README's "Schedules"):
 * - gap (spring-forward): a written time that does not exist that day never runs on its own. On a local date
 *   whose written times all fall in the gap, they run once, together, at the first instant after the jump
 *   (Berlin 03:00, Lord Howe 02:30, Chatham 03:45); a date with any other written time just runs those.
 * - overlap (fall-back), fixed-hour expressions (hour field not all 24 hours): the clock only counts forward,
 *   a run needs a wall time later than any the schedule has reached (its last run, or `after`). So a repeated
 *   time runs on its first pass, and on its second only for a schedule that was not yet there on the first.
 * - overlap, every-hour expressions: every real instant whose wall clock matches, both passes (each is a real
 *   hour), so their UTC spacing stays even.
 * `lastRun` (default `after`) is the schedule's last run when the walk starts elsewhere (after a misfire).
 */
function cronAfter(c: Cron, after: number, lastRun = after): number | null {
  if (c.after === after && c.lastRun === lastRun) return c.next;
  const next = walkAfter(c, after, lastRun);
  [c.after, c.lastRun, c.next] = [after, lastRun, next];
  return next;
}

function walkAfter(c: Cron, after: number, lastRun: number): number | null {
  const fixed = !c.allHours;
  let reached = Math.max(wallOf(c.tz, after), wallOf(c.tz, lastRun));
  let [from, p] = [after, after]; // instants > from are wanted; p is the first instant of the walk in this offset
  let o = offsetAt(c.tz, from);
  for (let guard = 0; guard < 500; guard++) {
    const w = wall(c.expr, fixed ? Math.max(reached, from + o) : from + o, 'next');
    if (w === null) return null;
    const e = boundary(c.tz, p, w - o);
    if (e === null) return w - o;
    const o2 = offsetAt(c.tz, e);
    if (o2 > o) {
      const skipped = wall(c.expr, Math.max(e + o - 1, fixed ? reached : -Infinity), 'next');
      if (skipped !== null && skipped < e + o2 && gapRuns(c, e + o, e + o2)) return e;
    }
    if (fixed) reached = Math.max(reached, e - 1 + o);
    [from, p, o] = [e - 1, e, o2];
  }
  return null;
}

/** Latest occurrence <= at of the walk from far back (a repeated time on its first pass only). */
function cronAtOrBefore(c: Cron, at: number): number | null {
  for (let hi = at, guard = 0; guard < 500; guard++) {
    const o = offsetAt(c.tz, hi);
    const w = wall(c.expr, hi + o, 'prev');
    const t = w === null ? null : w - o;
    const s = boundary(c.tz, hi, (t ?? hi) - DAY);
    if (s === null) return t;
    const op = offsetAt(c.tz, s - 1);
    let best = t !== null && t >= s && (c.allHours || op <= o || w! >= s + op) ? t : null;
    if (best === null && op < o && gapRuns(c, s + op, s + o)) best = s;
    if (best !== null || t === null) return best;
    hi = s - 1;
  }
  return null;
}

/** throws InvalidScheduleError if tz is not a valid IANA zone */
export function assertTimezone(tz: string, field = 'timezone'): void {
  try {
    if (typeof tz !== 'string' || tz.trim() === '') throw new RangeError(); // Intl would read undefined as "local"
    formatter(tz);
  } catch {
    throw new InvalidScheduleError(field, `${field} ${describeValue(tz)} is not a known IANA time zone`);
  }
}

// Compiling checks the zone and walks the expression once from 1970 to refuse one that never matches: a claim
// compiles every due row, so a valid expression is compiled once per zone (bounded like `parsed`).
const compiledCrons = new Map<string, Cron>();

function compileCron(expression: unknown, tz: string): Cron {
  const key = typeof expression === 'string' ? `${tz}\n${expression}` : null;
  const known = key === null ? undefined : compiledCrons.get(key);
  if (known) return known;
  assertTimezone(tz);
  const invalid = (why: string) => new InvalidScheduleError('cronExpression', `cronExpression ${describeValue(expression)} is invalid: ${why}`);
  if (typeof expression !== 'string') throw invalid('expected a string of 5 or 6 fields');
  const fields = expression.trim().split(/\s+/).filter(Boolean);
  // cron-parser pads short expressions and expands '@daily': a miscounted field must not quietly mean something else.
  if (fields.length !== 5 && fields.length !== 6) throw invalid(`expected 5 or 6 fields (6 = seconds first), got ${fields.length}`);
  const expr = fields.join(' ');
  let first: number | null;
  try {
    first = wall(expr, 0, 'next'); // parses (into the cache) and finds expressions that can never match
  } catch (err) {
    throw invalid(err instanceof Error ? err.message : String(err));
  }
  if (first === null) throw invalid('it never matches');
  const cron: Cron = { kind: 'cron', expr, tz, allHours: parsed.get(expr)!.fields.hour.values.length === 24, after: NaN, lastRun: NaN, next: null };
  if (compiledCrons.size >= 1000) compiledCrons.clear();
  compiledCrons.set(key!, cron);
  return cron;
}

/** throws InvalidScheduleError('cronExpression', ...) for an invalid cron (5 fields, or 6 with seconds first) */
export function assertCron(expression: string, timezone: string): void {
  compileCron(expression, timezone);
}

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
