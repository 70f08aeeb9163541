import { describeValue, InvalidScheduleError, InvalidTaskError } from '../errors/errors';
import type { AddSchedulerTaskInput, ScheduleFlow } from '../interfaces/schedule.interface';
import { keyProblem } from '../queue/json-value';
import { INT32_MAX, INT32_MIN, isInt32, serializeParams } from '../queue/task-validation';
import { assertCron, assertTimezone, type MisfirePolicy, type ScheduleSpec, type ScheduleType } from './math/schedule-math';
import { OVERLAP_POLICIES, type OverlapPolicy } from './overlap';
import { validateScheduleFlow } from './schedule-flow';

const SCHEDULE_TYPES: readonly ScheduleType[] = ['interval', 'cron', 'once'];
const MISFIRE_POLICIES: readonly MisfirePolicy[] = ['fire_once', 'fire_all', 'skip'];
/** A `once` time this far in the past is still accepted, for callers that compute "now" slightly before calling. */
export const ONCE_PAST_TOLERANCE_MS = 1000;

/** The validated columns of a schedule. */
export interface ScheduleFields extends ScheduleSpec {
  name: string;
  taskType: string;
  params: Record<string, unknown>;
  maxRuns: number;
  description: string | null;
  enabled: boolean;
  misfirePolicy: MisfirePolicy;
  overlap: OverlapPolicy;
  priority: number;
  timezone: string;
  flow: ScheduleFlow | null;
}

export interface ScheduleDefaults {
  timezone: string;
  misfirePolicy: MisfirePolicy;
  maxPayloadBytes: number;
}

function bad(field: string, rule: string, value: unknown): never {
  throw new InvalidScheduleError(field, `${field} ${rule}, got ${describeValue(value)}`);
}

/** An interval schedule's period: what addSchedule stores, and what nextOccurrences predicts for. */
export function checkIntervalSeconds(s: unknown): number {
  if (typeof s !== 'number' || !Number.isInteger(s) || s <= 0 || s > 2 ** 31 - 1) {
    bad('intervalSeconds', 'must be a positive whole number of seconds (required for an interval schedule)', s);
  }
  return s;
}

/** A name or type: stored in a text column of every database, so no NUL or lone surrogate (see keyProblem). */
function text(field: string, value: unknown, max: number): string {
  const problem = keyProblem(value, max);
  if (problem) bad(field, problem, value);
  if ((value as string).trim() === '') bad(field, `must be a non-empty string of at most ${max} characters, not only whitespace`, value);
  return value as string;
}

/** A Date or epoch ms, as addSchedule takes `executeAt` (nextOccurrences takes what it takes). */
export function toDate(field: string, value: unknown): Date {
  const date = value instanceof Date ? value : typeof value === 'number' ? new Date(value) : undefined;
  if (!date || !Number.isFinite(date.getTime())) bad(field, 'must be a Date or epoch milliseconds', value);
  return date;
}

/**
 * Validates a whole schedule definition and returns its columns; throws
 * InvalidScheduleError naming the first bad field. Pure: nothing is written.
 */
/** A schedule's params are kept in a TEXT column: 64 KiB on MySQL/MariaDB. */
export const SCHEDULE_PARAMS_MAX_BYTES = 65_535;

/** Fields whose change moves a schedule's next run. */
export const TIMING_FIELDS = ['scheduleType', 'intervalSeconds', 'cronExpression', 'timezone', 'executeAt'] as const;

/** A field's value in a form `!==` compares by content (Dates by time, undefined as null). */
export const comparable = (v: unknown): unknown => (v instanceof Date ? v.getTime() : v ?? null);

/** Fields whose default an omitted value takes; null is no value of theirs (an update with it reset the field, resumed a paused schedule). */
const NOT_NULL = ['timezone', 'maxRuns', 'misfirePolicy', 'overlap', 'enabled', 'priority'] as const;

export function validateSchedule(input: AddSchedulerTaskInput, defaults: ScheduleDefaults, now: number): ScheduleFields {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) bad('schedule', 'must be an object', input);
  for (const field of NOT_NULL) if (input[field] === null) bad(field, 'must be omitted for its default, not null', null);
  const name = text('name', input.name, 255);
  const taskType = text('taskType', input.taskType, 191);
  const scheduleType = input.scheduleType;
  if (!SCHEDULE_TYPES.includes(scheduleType)) bad('scheduleType', `must be one of ${SCHEDULE_TYPES.join(', ')}`, scheduleType);
  const timezone = input.timezone ?? defaults.timezone;
  if (typeof timezone !== 'string') bad('timezone', 'must be an IANA time zone name', timezone);
  assertTimezone(timezone, 'timezone');
  const spec: ScheduleSpec = { scheduleType, timezone, intervalSeconds: null, cronExpression: null, executeAt: null };
  if (scheduleType === 'interval') {
    spec.intervalSeconds = checkIntervalSeconds(input.intervalSeconds);
  } else if (scheduleType === 'cron') {
    if (typeof input.cronExpression !== 'string' || input.cronExpression.trim() === '') {
      bad('cronExpression', 'is required for a cron schedule (5 fields, or 6 with seconds)', input.cronExpression);
    }
    assertCron(input.cronExpression, timezone);
    spec.cronExpression = input.cronExpression.trim();
    // cron_expression is VARCHAR(255): MariaDB and PostgreSQL would refuse a longer one after the checks
    if (spec.cronExpression.length > 255) bad('cronExpression', 'must be at most 255 characters', spec.cronExpression);
  } else {
    if (input.executeAt === undefined || input.executeAt === null) bad('executeAt', 'is required for a once schedule', input.executeAt);
    const at = toDate('executeAt', input.executeAt);
    if (at.getTime() < now - ONCE_PAST_TOLERANCE_MS) bad('executeAt', 'must not be in the past', at.toISOString());
    spec.executeAt = at;
  }
  const maxRuns = input.maxRuns ?? 0;
  if (!isInt32(maxRuns) || maxRuns < 0) bad('maxRuns', `must be a whole number from 0 to ${INT32_MAX} (0 = no limit)`, maxRuns);
  const misfirePolicy = input.misfirePolicy ?? defaults.misfirePolicy;
  if (!MISFIRE_POLICIES.includes(misfirePolicy)) bad('misfirePolicy', `must be one of ${MISFIRE_POLICIES.join(', ')}`, misfirePolicy);
  const overlap = input.overlap ?? 'allow';
  if (!OVERLAP_POLICIES.includes(overlap)) bad('overlap', "must be 'allow', 'skip' or 'wait'", overlap);
  const enabled = input.enabled ?? true;
  if (typeof enabled !== 'boolean') bad('enabled', 'must be true or false', enabled);
  const priority = input.priority ?? 0;
  if (!isInt32(priority)) bad('priority', `must be an integer from ${INT32_MIN} to ${INT32_MAX}`, priority);
  const description = input.description ?? null;
  if (description !== null && typeof description !== 'string') bad('description', 'must be a string', description);
  if (description !== null && description !== '' && keyProblem(description, Number.MAX_SAFE_INTEGER)) bad('description', keyProblem(description, Number.MAX_SAFE_INTEGER) as string, description);
  // a TEXT column: 65,535 bytes on MySQL/MariaDB, which would refuse more after the checks
  if (description !== null && Buffer.byteLength(description) > SCHEDULE_PARAMS_MAX_BYTES) bad('description', `must be at most ${SCHEDULE_PARAMS_MAX_BYTES} bytes as UTF-8`, `${description.slice(0, 40)}… (${Buffer.byteLength(description)} bytes)`);
  const raw = input.params ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('params', 'must be a plain object', raw);
  let json: string;
  let params: Record<string, unknown>;
  try {
    params = serializeParams(raw, defaults.maxPayloadBytes) as Record<string, unknown>;
    json = JSON.stringify(params);
  } catch (err) {
    const e = err as InvalidTaskError;
    throw new InvalidScheduleError(e.field, e.message);
  }
  // checked again as stored: a Date, a boxed string or a toJSON would be kept as a string or an array
  if (typeof params !== 'object' || params === null || Array.isArray(params)) bad('params', 'must be a plain object (as JSON)', raw);
  const bytes = Buffer.byteLength(json);
  if (bytes > SCHEDULE_PARAMS_MAX_BYTES) {
    throw new InvalidScheduleError('params', `params is ${bytes} bytes as JSON, more than a schedule's ${SCHEDULE_PARAMS_MAX_BYTES} (scheduler_task.params is TEXT on MySQL/MariaDB); keep large inputs elsewhere and pass a reference`);
  }
  const flow = validateScheduleFlow(input.flow, { taskType, params, priority }, defaults);
  return { ...spec, timezone, name, taskType, params, maxRuns, description, enabled, misfirePolicy, overlap, priority, flow };
}
