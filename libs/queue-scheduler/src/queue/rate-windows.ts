import type { RateLimit } from '../interfaces/task-handler.interface';
import type { Task } from '../interfaces/task.interface';
import type { ClaimFilter } from './queue-consumer';

/**
 * The start of the window `now` falls in: windows are fixed and aligned on
 * multiples of `perMs`, so every instance (each on its own clock, which NTP
 * keeps within milliseconds) counts in the same windows without talking.
 */
export function windowOf(now: number, perMs: number): number {
  return Math.floor(now / perMs) * perMs;
}

/** `filter` with the permits a claim may use: types with none left out, the others capped by them. */
export function withinPermits(filter: ClaimFilter, permits: ReadonlyMap<string, number>): ClaimFilter {
  const remaining = new Map(filter.remaining);
  for (const [type, n] of permits) remaining.set(type, Math.min(n, remaining.get(type) ?? Infinity));
  return { ...filter, types: filter.types.filter((t) => permits.get(t) !== 0), remaining };
}

/** How many tasks of each type a claim took. */
export function countByType(tasks: readonly Task[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const task of tasks) counts.set(task.type, (counts.get(task.type) ?? 0) + 1);
  return counts;
}

/** How long a durable claim may take from its permits to its tasks' start: permits are not granted closer than this to a window's end. */
const MAX_CLAIM_LAG_MS = 50;

/**
 * Where a durable backend counts the starts of each window, shared by every
 * instance: `take` grants up to `want` of what is left, atomically; `giveBack`
 * returns permits a claim did not use (nothing was due).
 */
export interface PermitStore {
  take(type: string, want: number, limit: RateLimit, windowStart: number): Promise<number>;
  giveBack(type: string, n: number, limit: RateLimit, windowStart: number): Promise<void>;
}

/** Gives a claimed task back to the queue, to be claimed again from `runAt`, without using an attempt. */
export type PutBack = (task: Task, runAt: Date) => Promise<void>;

/**
 * Rate-limited claims of a durable backend: permits from the shared store
 * first, then the claim within them, then the unused ones back. `wakeAt` is
 * when the earliest exhausted window ends: an idle worker waits no longer.
 */
export class RateLimitedClaims {
  wakeAt = Infinity;

  constructor(
    private readonly store: PermitStore,
    private readonly putBack: PutBack,
    private readonly onLate?: (type: string, putBack: readonly Task[], windowEnd: number) => void,
  ) {}

  async claim<T extends Task>(filter: ClaimFilter & { rateLimits: ReadonlyMap<string, RateLimit> }, limit: number, claim: (filter: ClaimFilter) => Promise<T[]>): Promise<T[]> {
    const now = Date.now();
    const permits = new Map<string, number>();
    const windows = new Map<string, number>();
    this.wakeAt = Infinity;
    for (const type of filter.types) {
      const rate = filter.rateLimits.get(type);
      if (!rate) continue;
      const start = windowOf(now, rate.perMs);
      // no permit in a window's last moments: the claim and the handler's start come a few ms after the permit,
      // and would land in the next window beside its own full count (twice the limit within perMs)
      if (start + rate.perMs - now < Math.min(MAX_CLAIM_LAG_MS, rate.perMs / 10)) {
        permits.set(type, 0);
        this.wakeAt = Math.min(this.wakeAt, start + rate.perMs);
        continue;
      }
      const granted = await this.store.take(type, Math.min(limit, filter.remaining?.get(type) ?? limit), rate, start);
      permits.set(type, granted);
      windows.set(type, start);
      if (granted === 0) this.wakeAt = Math.min(this.wakeAt, start + rate.perMs);
    }
    const tasks = await claim(withinPermits(filter, permits));
    const took = countByType(tasks);
    for (const [type, granted] of permits) {
      const unused = granted - (took.get(type) ?? 0);
      if (unused > 0) await this.store.giveBack(type, unused, filter.rateLimits.get(type)!, windows.get(type)!);
    }
    return this.recountLate(tasks, took, filter.rateLimits, windows);
  }

  /**
   * A claim slower than MAX_CLAIM_LAG_MS (a starved CPU, a slow server) ends
   * after the window its permits came from: its tasks would start in the next
   * window beside that window's own `max`. They take that window's permits
   * instead, and those without one go back to the queue until it ends. The
   * old window's permits stay spent: fewer starts there, never more.
   */
  private async recountLate<T extends Task>(tasks: T[], took: ReadonlyMap<string, number>, rateLimits: ReadonlyMap<string, RateLimit>, windows: ReadonlyMap<string, number>): Promise<T[]> {
    let kept = tasks;
    for (const [type, n] of took) {
      const rate = rateLimits.get(type);
      let start = windows.get(type);
      if (rate === undefined || start === undefined) continue; // not rate-limited
      let granted = n;
      for (let now = Date.now(); now >= start + rate.perMs && granted > 0; now = Date.now()) {
        start = windowOf(now, rate.perMs);
        granted = await this.store.take(type, granted, rate, start);
      }
      if (granted === n) continue;
      let seen = 0;
      const over: T[] = [];
      kept = kept.filter((task) => task.type !== type || ++seen <= granted || (over.push(task), false));
      const runAt = start + rate.perMs;
      this.wakeAt = Math.min(this.wakeAt, runAt);
      this.onLate?.(type, over, runAt);
      for (const task of over) await this.putBack(task, new Date(runAt));
    }
    return kept;
  }
}

/** The same counts for one process (the memory backend), synchronous: a claim takes at most what is left, then counts what it took. */
export class LocalWindows {
  private readonly windows = new Map<string, { start: number; used: number }>();
  wakeAt = Infinity;

  /**
   * `filter` within what each limited type has left now (its types with
   * nothing left out), for a claim of at most `limit` tasks; `filter` itself,
   * with nothing allocated, while no window is that close to full.
   */
  limit(filter: ClaimFilter & { rateLimits: ReadonlyMap<string, RateLimit> }, now: number, limit: number): ClaimFilter {
    let left: Map<string, number> | undefined;
    this.wakeAt = Infinity;
    for (const [type, rate] of filter.rateLimits) {
      const start = windowOf(now, rate.perMs);
      const w = this.windows.get(type);
      const n = rate.max - (w && w.start === start ? w.used : 0);
      if (n >= limit) continue;
      (left ??= new Map()).set(type, n);
      if (n === 0) this.wakeAt = Math.min(this.wakeAt, start + rate.perMs);
    }
    return left ? withinPermits(filter, left) : filter;
  }

  /** Counts what a claim took; nothing allocated but a type's first window. */
  took(tasks: readonly Task[], rateLimits: ReadonlyMap<string, RateLimit>, now: number): void {
    for (let i = 0; i < tasks.length; i++) {
      const rate = rateLimits.get(tasks[i].type);
      if (!rate) continue;
      const start = windowOf(now, rate.perMs);
      const w = this.windows.get(tasks[i].type);
      if (!w) this.windows.set(tasks[i].type, { start, used: 1 });
      else if (w.start === start) w.used++;
      else {
        w.start = start;
        w.used = 1;
      }
    }
  }
}
