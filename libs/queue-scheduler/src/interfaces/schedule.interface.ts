import type { MisfirePolicy, ScheduleType } from '../scheduler/math/schedule-math';

export type { MisfirePolicy, ScheduleType };

/** What `addSchedule` (alias `addSchedulerTask`) takes. @publicApi */
export interface AddSchedulerTaskInput {
  name: string;
  /** The task type each occurrence pushes (a `@TaskHandler` runs it). */
  taskType: string;
  scheduleType: ScheduleType;
  /** interval: whole seconds between occurrences (fixed rate). */
  intervalSeconds?: number;
  /** cron: 5 fields, or 6 with seconds first. */
  cronExpression?: string;
  /** cron: IANA zone the expression is read in. @default the module's scheduler.defaultTimezone ('UTC') */
  timezone?: string;
  /** once: when to fire; a Date or epoch ms. Must not be in the past. */
  executeAt?: Date | number;
  /** Params of every task this schedule pushes. @default {} */
  params?: Record<string, unknown>;
  /** Disable after this many runs; 0 = no limit. @default 0 */
  maxRuns?: number;
  description?: string | null;
  /** false: stored paused. @default true */
  enabled?: boolean;
  /** What to do with occurrences missed while no instance was running. @default the module's scheduler.defaultMisfirePolicy */
  misfirePolicy?: MisfirePolicy;
  /** Priority of the pushed tasks. @default 0 */
  priority?: number;
}

/** What `updateSchedule` (alias `updateTask`) takes: any field of a schedule; the schedule is re-validated as a whole. @publicApi */
export type UpdateSchedulerTaskInput = Partial<AddSchedulerTaskInput>;

/** @publicApi */
export interface ListSchedulesFilter {
  enabledOnly?: boolean;
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
  | { kind: 'missed'; scheduleId: string; name: string; taskType: string; missed: number; policy: MisfirePolicy; at: Date };
