import { type FirePlan, type MisfirePolicy, planFire, type ScheduleSpec } from './math/schedule-math';

/** What planning a claim reads of a schedule row. */
export interface ClaimableSchedule extends ScheduleSpec {
  nextRunAt: Date;
  misfirePolicy: MisfirePolicy;
  runCount: number;
  maxRuns: number;
}

export interface ClaimLimits {
  misfireGraceMs: number;
  /** Most occurrences one claim of a row takes (scheduler.maxCatchUp). */
  maxCatchUp: number;
}

/**
 * The occurrences one claim of a row takes at `now`: those already due, by
 * the misfire policy (only they can be late), then every later one up to
 * `horizon` (now + lookaheadMs), which is on time whatever the policy because
 * it is queued to start at its own time. At most maxCatchUp, and never past
 * maxRuns. `next` is the row's new next_run_at.
 */
export function planClaim(row: ClaimableSchedule, now: number, horizon: number, limits: ClaimLimits): FirePlan {
  const { misfireGraceMs: grace, maxCatchUp } = limits;
  const step = (due: Date): FirePlan => planFire(row, due, new Date(Math.max(now, due.getTime())), row.misfirePolicy, grace, maxCatchUp);
  if (row.nextRunAt.getTime() > horizon) return { fire: [], next: row.nextRunAt, missed: 0 };
  let plan = step(row.nextRunAt);
  // next strictly grows with every step (each adds one occurrence), so this ends; the bound keeps a sub-second
  // interval from making one claim huge
  while (plan.next !== null && plan.next.getTime() <= horizon && plan.fire.length < maxCatchUp) {
    const more = step(plan.next);
    plan = { fire: [...plan.fire, ...more.fire], next: more.next, missed: plan.missed + more.missed };
  }
  if (row.maxRuns <= 0) return plan;
  const left = Math.max(0, row.maxRuns - row.runCount);
  const fire = plan.fire.slice(0, left);
  return { ...plan, fire, next: row.runCount + fire.length >= row.maxRuns ? null : plan.next };
}
