import { BadRequestException, NotFoundException } from '@nestjs/common';
import type { SchedulerTask } from '../entities/scheduler-task.entity';
import { QueueSchedulerError, TaskNotFoundError } from '../errors/errors';
import type { FlowNode } from '../interfaces/flow.interface';
import type { TaskRecord, TaskStatus } from '../interfaces/task.interface';
import { upcomingRuns } from '../scheduler/next-occurrences';
import { TASK_STATUSES } from '../queue/task-pages';
import { describeCron } from './cron-words';

export const NEXT_RUNS_SHOWN = 5;

/** A task as the page shows it: the queue's record plus its run time and, for a scheduled occurrence, how late it started. */
export interface TaskView extends TaskRecord {
  durationMs: number | null;
  /** start − scheduledAt of a scheduled occurrence, in ms. */
  lagMs: number | null;
  /** A flow's parent: the tree under it, each task with its status. */
  flow?: FlowNode;
}

export function taskView(task: TaskRecord): TaskView {
  const ms = (d?: Date) => (d ? new Date(d).getTime() : null);
  const [started, completed, scheduled] = [ms(task.startedAt), ms(task.completedAt), ms(task.scheduledAt)];
  return {
    ...task,
    durationMs: started !== null && completed !== null ? completed - started : null,
    lagMs: started !== null && scheduled !== null ? started - scheduled : null,
  };
}

export type ScheduleState = 'active' | 'paused' | 'finished';

export interface ScheduleView extends SchedulerTask {
  state: ScheduleState;
  /** The timing in plain words. */
  describedAs: string;
  /** The next run times from the schedule's own maths (none while paused or finished). */
  nextRuns: Date[];
}

export function scheduleState(s: SchedulerTask): ScheduleState {
  if (s.enabled) return 'active';
  const finished = (s.maxRuns > 0 && s.runCount >= s.maxRuns) || (s.scheduleType === 'once' && s.runCount > 0);
  return finished ? 'finished' : 'paused';
}

export function describeTiming(s: SchedulerTask): string {
  const tz = s.timezone ?? 'UTC';
  if (s.scheduleType === 'interval') return `every ${plural(s.intervalSeconds ?? 0, 'second')}`;
  if (s.scheduleType === 'cron') return `${describeCron(s.cronExpression ?? '')} (${tz})`;
  return `once, at ${s.executeAt ? new Date(s.executeAt).toISOString() : '?'}`;
}

/** `from`: the runs after that instant rather than from the schedule's next run (a preview across a DST change, say). */
export function scheduleView(s: SchedulerTask, from?: Date): ScheduleView {
  return { ...s, state: scheduleState(s), describedAs: describeTiming(s), nextRuns: nextRuns(s, from) };
}

function nextRuns(s: SchedulerTask, from?: Date): Date[] {
  try {
    return upcomingRuns(s, NEXT_RUNS_SHOWN, from);
  } catch {
    // a row written by hand with a timing the maths refuses: its first run is all that can be shown
    return s.enabled && s.nextRunAt && from === undefined ? [new Date(s.nextRunAt)] : [];
  }
}

/** The `from` query parameter: an ISO 8601 instant, or none. */
export function parseFrom(value: unknown): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const date = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? new Date(value) : new Date(NaN);
  if (!Number.isFinite(date.getTime())) throw new BadRequestException(`from must be an ISO 8601 date and time such as 2026-10-22T12:00:00Z, got ${JSON.stringify(value)}`);
  return date;
}

function plural(n: number, unit: string): string {
  if (n % 86_400 === 0 && n >= 86_400) return `${n / 86_400} day${n === 86_400 ? '' : 's'}`;
  if (n % 3600 === 0 && n >= 3600) return `${n / 3600} hour${n === 3600 ? '' : 's'}`;
  if (n % 60 === 0 && n >= 60) return `${n / 60} minute${n === 60 ? '' : 's'}`;
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** The library's errors as HTTP errors: an unknown id is a 404, a bad field a 400 naming it. */
export async function asHttp<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof TaskNotFoundError) throw new NotFoundException(err.message);
    if (err instanceof QueueSchedulerError && typeof (err as { field?: unknown }).field === 'string') throw new BadRequestException(err.message);
    throw err;
  }
}

export function parseStatus(value: unknown): TaskStatus | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !TASK_STATUSES.includes(value as TaskStatus)) {
    throw new BadRequestException(`status must be one of ${TASK_STATUSES.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as TaskStatus;
}

export function parseLimit(value: unknown, fallback: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  // decimal digits only: Number() also read '0x10', '1e2' and ' 5' as integers
  const n = typeof value === 'string' && /^[0-9]{1,9}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > max) throw new BadRequestException(`limit must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

export function optionalText(value: unknown, name: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || value.length > 1000) throw new BadRequestException(`${name} must be a string of at most 1000 characters`);
  return value;
}
