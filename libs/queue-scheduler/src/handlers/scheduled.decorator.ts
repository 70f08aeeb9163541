import { DiscoveryService } from '@nestjs/core';
import { describeValue } from '../errors/errors';
import { refuseNonMethod } from './task-handler.decorator';
import type { MisfirePolicy } from '../scheduler/math/schedule-math';
import type { OverlapPolicy } from '../scheduler/overlap';
import type { ScheduleFlow } from '../interfaces/schedule.interface';

/**
 * A schedule declared in code with `@Scheduled`. Give exactly one of `cron`,
 * `interval` and `at`; everything else has the defaults of `addSchedule`.
 * @publicApi
 */
export interface ScheduledOptions {
  /**
   * Stable id of the schedule (the row's `schedule_key`, at most 191 characters).
   * Keep it when the definition changes: the row is then updated in place.
   */
  key: string;
  /** Cron: 5 fields, or 6 with seconds first, read in `timezone`. */
  cron?: string | undefined;
  /** Interval: whole seconds between occurrences (fixed rate). */
  interval?: number | undefined;
  /** Once: when to fire, as a Date, epoch ms or an ISO 8601 string. */
  at?: Date | number | string | undefined;
  /** IANA zone a cron expression is read in. @default the module's scheduler.defaultTimezone ('UTC') */
  timezone?: string | undefined;
  /** @default the key */
  name?: string | undefined;
  /** Params of every task the schedule pushes. @default {} */
  params?: Record<string, unknown> | undefined;
  /** Disable after this many runs; 0 = no limit. @default 0 */
  maxRuns?: number | undefined;
  /** @default the module's scheduler.defaultMisfirePolicy ('fire_once') */
  misfirePolicy?: MisfirePolicy | undefined;
  /** Whether a run may start while the previous one is unfinished: 'allow', 'skip' or 'wait' (see `addSchedule`). @default 'allow' */
  overlap?: OverlapPolicy | undefined;
  /** Priority of the pushed tasks. @default 0 */
  priority?: number | undefined;
  description?: string | undefined;
  /** false: the schedule is stored disabled. @default true */
  enabled?: boolean | undefined;
  /**
   * Makes each occurrence a flow: this method's task is the root and waits
   * for these children (see `addSchedule`'s `flow`). @default none
   */
  flow?: ScheduleFlow | undefined;
}

/** Internal discoverable key: the list of declarations on one method, in source order. */
export const SCHEDULED = DiscoveryService.createDecorator<ScheduledOptions[]>();

/**
 * Declares a persistent schedule for the `@TaskHandler` method it sits on:
 * at start-up it is written to `scheduler_task` under its `key` (added,
 * updated in place when the declaration changed, disabled once removed), and
 * fired once per occurrence however many instances run. A method may carry
 * several, with different keys.
 *
 * @example
 * @Scheduled({ key: 'nightly-report', cron: '0 2 * * *', timezone: 'Asia/Shanghai' })
 * @TaskHandler('nightly_report')
 * async report(params: Record<string, unknown>, ctx: TaskContext) { … }
 * @publicApi
 */
export const Scheduled =
  (options: ScheduledOptions): MethodDecorator =>
  (target, key, descriptor) => {
    refuseNonMethod(`@Scheduled({ key: ${describeValue(options?.key)} })`, target, key, descriptor);
    // decorators apply bottom-up: put this one before those already applied, so the list keeps source order
    const applied = (Reflect.getMetadata(SCHEDULED.KEY, descriptor.value as object) as ScheduledOptions[] | undefined) ?? [];
    SCHEDULED([options, ...applied])(target, key, descriptor);
  };
