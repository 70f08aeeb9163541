import type { FirePlan } from './math/schedule-math';
import { type ClaimableSchedule, type ClaimLimits, planClaim } from './claim-plan';

/**
 * Whether an occurrence may start while the previous run of its schedule is
 * still pending or running anywhere: 'allow' (the default) queues it anyway,
 * 'skip' drops it, 'wait' holds it until that run has finished.
 */
export type OverlapPolicy = 'allow' | 'skip' | 'wait';

export const OVERLAP_POLICIES: readonly OverlapPolicy[] = ['allow', 'skip', 'wait'];

/** A claim's plan for one row, with the occurrences it gave up because of the schedule's overlap policy. */
export interface ClaimPlan extends FirePlan {
  /** 'skip': occurrences dropped because a run was unfinished (or would have been, beside the one fired). */
  skipped?: Date[];
  /** 'wait': how many occurrences due together after waiting were folded into the one run fired (the latest). */
  coalesced?: number;
}

/** What planning a claim of a row with an overlap policy reads of it. */
export interface OverlapSchedule extends ClaimableSchedule {
  overlap: OverlapPolicy;
}

/**
 * The plan of a claim of a 'skip' or 'wait' row at `now`, given whether a run
 * of the schedule is unfinished (`busy`); null: leave the row as it is ('wait'
 * while busy). Such a row is claimed only once due, never ahead of its time
 * (an occurrence queued ahead would itself be the unfinished run that blocks
 * the next), and one claim starts at most one run:
 * - skip: the first occurrence due runs if nothing is unfinished; every other
 *   one due is dropped and reported; the row moves past them (no run counted).
 * - wait: nothing moves while busy, so the occurrence stays due; once free,
 *   every occurrence due by then folds into one run, the latest (the misfire
 *   policy does not drop them: lateness caused by waiting is not a downtime).
 * maxRuns counts the runs fired, not the occurrences given up.
 */
export function planOverlap(row: OverlapSchedule, now: number, limits: ClaimLimits, busy: boolean): ClaimPlan | null {
  if (row.overlap === 'wait' && busy) return null;
  const unbounded = { ...row, maxRuns: 0, misfirePolicy: row.overlap === 'wait' ? ('fire_once' as const) : row.misfirePolicy };
  const raw = planClaim(unbounded, now, now, limits);
  let fire: Date[];
  const plan: ClaimPlan = { fire: [], next: raw.next, missed: raw.missed };
  if (row.overlap === 'skip') {
    fire = busy ? [] : raw.fire.slice(0, 1);
    plan.skipped = raw.fire.slice(fire.length);
  } else {
    fire = raw.fire.slice(-1);
    // fire_once folds late occurrences into the latest and reports them as missed: here they are coalesced
    plan.coalesced = raw.fire.length - fire.length + raw.missed;
    plan.missed = 0;
  }
  plan.fire = fire;
  if (row.maxRuns > 0 && row.runCount + fire.length >= row.maxRuns) plan.next = null;
  return plan;
}

/**
 * 'wait' schedules this instance found busy: left out of its claims until
 * their recheck time, so a held row at the head of the due rows neither makes
 * the loop spin nor fills every batch ahead of the rows behind it. Each
 * instance keeps its own; a row held here is still claimed by another
 * instance once its run has finished.
 */
export class WaitingSchedules {
  private readonly until = new Map<string, number>();

  constructor(private readonly recheckMs: number) {}

  hold(scheduleId: string, now: number): void {
    this.until.set(scheduleId, now + this.recheckMs);
  }

  /** The ids still held at `now`; those whose recheck time came are let go. */
  held(now: number): string[] {
    for (const [id, at] of this.until) if (at <= now) this.until.delete(id);
    return [...this.until.keys()];
  }

  /** The earliest recheck time (epoch ms), or null when nothing is held. */
  nextRecheck(): number | null {
    let min: number | null = null;
    for (const at of this.until.values()) if (min === null || at < min) min = at;
    return min;
  }
}
