import type { CronExpression, CronExpressionParser } from 'cron-parser';
import { describeValue, InvalidScheduleError } from '../../errors/errors';

/**
 * Cron occurrences on the wall clock of a schedule's zone: the zone's offsets
 * (from Intl), cron-parser on a DST-free timeline, and the DST rule that joins
 * them (cronAfter / cronAtOrBefore). schedule-math builds the plans on them.
 */

const DAY = 86_400_000;

/**
 * A compiled cron, shared by every schedule with its expression and zone. It
 * remembers its last `cronAfter` question and answer: a claim asks the same
 * one for every row of a common expression due at the same time (1,000
 * per-second schedules ask it 1,000 times a second), and the walk through
 * cron-parser and the zone's offsets is most of a row's planning.
 */
export type Cron = { kind: 'cron'; expr: string; tz: string; allHours: boolean; after: number; lastRun: number; next: number | null };

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
// loaded with the first cron expression: with luxon it is ~0.9 MB of heap that an app of interval schedules never needs
let parser: typeof CronExpressionParser | undefined;
function wall(expr: string, w: number, dir: 'next' | 'prev'): number | null {
  let e = parsed.get(expr);
  if (!e) {
    if (parsed.size >= 1000) parsed.clear();
    parser ??= (require('cron-parser') as typeof import('cron-parser')).CronExpressionParser;
    parsed.set(expr, (e = parser.parse(expr, { tz: 'UTC', hashSeed: expr })));
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
export function cronAfter(c: Cron, after: number, lastRun = after): number | null {
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
export function cronAtOrBefore(c: Cron, at: number): number | null {
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
// compiles every due row, so a valid expression is compiled once per zone (bounded like `parsed`). By zone, then
// expression: a key made of both was a string built for every row of every claim.
const compiledCrons = new Map<string, Map<string, Cron>>();
let compiledCount = 0;

export function compileCron(expression: unknown, tz: string): Cron {
  const known = typeof expression === 'string' ? compiledCrons.get(tz)?.get(expression) : undefined;
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
  if (compiledCount >= 1000) {
    compiledCrons.clear();
    compiledCount = 0;
  }
  let inZone = compiledCrons.get(tz);
  if (!inZone) compiledCrons.set(tz, (inZone = new Map()));
  inZone.set(expression, cron);
  compiledCount++;
  return cron;
}

/** throws InvalidScheduleError('cronExpression', ...) for an invalid cron (5 fields, or 6 with seconds first) */
export function assertCron(expression: string, timezone: string): void {
  compileCron(expression, timezone);
}
