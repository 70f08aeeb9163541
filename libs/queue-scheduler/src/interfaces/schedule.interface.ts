import type { FlowInput } from './flow.interface';
import type { MisfirePolicy, ScheduleType } from '../scheduler/math/schedule-math';
import type { OverlapPolicy } from '../scheduler/overlap';

export type { MisfirePolicy, OverlapPolicy, ScheduleType };

/** What `addSchedule` (alias `addSchedulerTask`) takes. @publicApi */
export interface AddSchedulerTaskInput {
  name: string;
  /** The task type each occurrence pushes (a `@TaskHandler` runs it). */
  taskType: string;
  scheduleType: ScheduleType;
  /** interval: whole seconds between occurrences (fixed rate). */
  intervalSeconds?: number | undefined;
  /** cron: 5 fields, or 6 with seconds first. */
  cronExpression?: string | undefined;
  /** cron: IANA zone the expression is read in. @default the module's scheduler.defaultTimezone ('UTC') */
  timezone?: string | undefined;
  /** once: when to fire; a Date or epoch ms. Must not be in the past. */
  executeAt?: Date | number | undefined;
  /** Params of every task this schedule pushes. @default {} */
  params?: Record<string, unknown> | undefined;
  /** Disable after this many runs; 0 = no limit. @default 0 */
  maxRuns?: number | undefined;
  description?: string | null | undefined;
  /** false: stored paused. @default true */
  enabled?: boolean | undefined;
  /** What to do with occurrences missed while no instance was running. @default the module's scheduler.defaultMisfirePolicy */
  misfirePolicy?: MisfirePolicy | undefined;
  /**
   * Whether an occurrence may start while the previous run of this schedule is
   * still pending or running on any instance: 'allow' runs them side by side,
   * 'skip' drops the occurrence (logged, counted in the metrics' `schedules.skipped`),
   * 'wait' holds it until that run has finished; occurrences due meanwhile fold
   * into that one run. See the README's "No overlapping runs of a schedule".
   * @default 'allow'
   */
  overlap?: OverlapPolicy | undefined;
  /** Priority of the pushed tasks. @default 0 */
  priority?: number | undefined;
  /**
   * Makes each occurrence a flow: the occurrence's task (taskType, params,
   * priority) is the root, and these children (a `pushFlow` tree) are pushed
   * with it, at once, exactly once per occurrence. Null: a plain task (the
   * way to remove a template in `updateSchedule`). Not on the redis backend yet.
   * @default null
   */
  flow?: ScheduleFlow | null | undefined;
}

/**
 * The tree a flow schedule pushes under each occurrence's task: `pushFlow`'s
 * children, validated by its rules when the schedule is stored (errors name
 * `flow.children[2].type`). Stored as JSON in `scheduler_task.flow` (TEXT: at most 64 KiB). @publicApi
 */
export interface ScheduleFlow {
  children: FlowInput[];
}

/** What `updateSchedule` (alias `updateTask`) takes: any field of a schedule; the schedule is re-validated as a whole. @publicApi */
export type UpdateSchedulerTaskInput = Partial<AddSchedulerTaskInput>;

/** @publicApi */
export interface ListSchedulesFilter {
  enabledOnly?: boolean | undefined;
}

/**
 * What the scheduler did, on `SchedulerService.events$`: an occurrence claimed
 * and queued (`fired`), or occurrences given up by the misfire policy after a
 * downtime (`missed`). A `fired` event's `at` is when the occurrence was
 * released to start: the claim time when it was already due, its scheduled
 * time when it was queued ahead (`scheduler.lookaheadMs`), so `at − scheduledAt`
 * is the scheduler's lag and never negative. The event itself is emitted at
 * the claim, up to lookaheadMs before `at`. @publicApi
 */
export type ScheduleEvent =
  | { kind: 'fired'; scheduleId: string; name: string; taskType: string; taskId: string; scheduledAt: Date; at: Date }
  | { kind: 'missed'; scheduleId: string; name: string; taskType: string; missed: number; policy: MisfirePolicy; at: Date }
  /** Occurrences an overlap policy gave up: dropped by 'skip' (`scheduledAt` lists them), or folded into one run by 'wait'. */
  | { kind: 'skipped'; scheduleId: string; name: string; taskType: string; overlap: 'skip' | 'wait'; skipped: number; scheduledAt: Date[]; at: Date };
