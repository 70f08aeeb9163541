import { keyProblem } from '../queue/json-value';
import { createHash } from 'node:crypto';
import type { SchedulerTask } from '../entities/scheduler-task.entity';
import { describeValue, InvalidScheduleError } from '../errors/errors';
import type { AddSchedulerTaskInput } from '../interfaces/schedule.interface';
import { changedFrom, initialRun } from './math/schedule-math';
import type { ScheduledOptions } from '../handlers/scheduled.decorator';
import { comparable, ONCE_PAST_TOLERANCE_MS, type ScheduleDefaults, type ScheduleFields, TIMING_FIELDS, validateSchedule } from './schedule-input';

/** A validated `@Scheduled` declaration. */
export interface DeclaredSchedule {
  key: string;
  /** `Class.method`, for messages. */
  source: string;
  fields: ScheduleFields;
  /** Fingerprint of the declaration (kept in `declared_hash`): a row is rewritten only when it changes. */
  hash: string;
}

/** One method's `@Scheduled` list as the explorer found it, with the type of the `@TaskHandler` beside it. */
export interface ScheduledMethod {
  /** `Class.method`, for messages. */
  source: string;
  /** The `@TaskHandler` type on the same method; undefined when there is none (an error). */
  taskType: string | undefined;
  /** The method's declarations, in source order. */
  list: ScheduledOptions[];
}

/** What a declaration sets besides its definition columns. */
export interface DeclaredRun {
  enabled: boolean;
  nextRunAt: Date | null;
  /** Why a schedule declared enabled is stored disabled. */
  note?: string;
}

/** Length of the `schedule_key` column. */
const KEY_MAX_LENGTH = 191;
/** validateSchedule's field names → the decorator's option names, so errors name what the user wrote. */
const OPTION_NAMES: Record<string, string> = { intervalSeconds: 'interval', cronExpression: 'cron', executeAt: 'at' };

/**
 * Validates one `@Scheduled` declaration of the handler of `taskType` at
 * `source`; throws InvalidScheduleError naming the key, the method and the option.
 */
export function declareSchedule(options: ScheduledOptions, taskType: string, source: string, defaults: ScheduleDefaults): DeclaredSchedule {
  const fail = (field: string, message: string): never => {
    throw new InvalidScheduleError(field, `@Scheduled(${describeValue(options?.key)}) on ${source}: ${message}`);
  };
  if (options === null || typeof options !== 'object') return fail('options', `options must be an object, got ${describeValue(options)}`);
  const { key } = options;
  const problem = keyProblem(key, KEY_MAX_LENGTH);
  if (problem || key.trim() === '') {
    fail('key', `key ${problem ?? 'must not be only whitespace'}, got ${describeValue(key)}`);
  }
  const kinds = (['cron', 'interval', 'at'] as const).filter((k) => options[k] !== undefined);
  if (kinds.length !== 1) fail(kinds[1] ?? 'schedule', `give exactly one of cron, interval or at, got ${kinds.length ? kinds.join(' and ') : 'none'}`);
  let at = options.at;
  if (typeof at === 'string') {
    at = Date.parse(at);
    if (Number.isNaN(at)) fail('at', `at must be a Date, epoch milliseconds or an ISO 8601 string, got ${describeValue(options.at)}`);
  }
  const input: AddSchedulerTaskInput = {
    name: options.name ?? key,
    taskType,
    scheduleType: kinds[0] === 'at' ? 'once' : kinds[0],
    intervalSeconds: options.interval,
    cronExpression: options.cron,
    executeAt: at,
    timezone: options.timezone,
    params: options.params,
    maxRuns: options.maxRuns,
    misfirePolicy: options.misfirePolicy,
    overlap: options.overlap,
    priority: options.priority,
    description: options.description,
    enabled: options.enabled,
    flow: options.flow,
  };
  let fields: ScheduleFields;
  try {
    // a past `at` is not an error here: the app may boot long after it (see declaredRun)
    fields = validateSchedule(input, defaults, -Infinity);
  } catch (err) {
    if (!(err instanceof InvalidScheduleError)) throw err;
    const field = OPTION_NAMES[err.field] ?? err.field;
    return fail(field, err.message.startsWith(err.field) ? field + err.message.slice(err.field.length) : err.message);
  }
  if ((fields.cronExpression?.length ?? 0) > 255) fail('cron', 'cron must be at most 255 characters');
  return { key, source, fields, hash: fingerprint(key, fields) };
}

/**
 * Validates every declaration the explorer found; throws InvalidScheduleError
 * on the first bad one, a method with no `@TaskHandler`, or a key declared twice.
 */
export function declareSchedules(found: readonly ScheduledMethod[], defaults: ScheduleDefaults): DeclaredSchedule[] {
  const byKey = new Map<string, DeclaredSchedule>();
  for (const { source, taskType, list } of found) {
    if (taskType === undefined) {
      throw new InvalidScheduleError(
        'taskType',
        `@Scheduled(${list.map((o) => `'${o?.key}'`).join(', ')}) on ${source} has no @TaskHandler on the same method: put @TaskHandler('type') beside it, the schedule pushes tasks of that type`,
      );
    }
    for (const options of list) {
      const d = declareSchedule(options, taskType, source, defaults);
      const other = byKey.get(d.key);
      if (other) {
        throw new InvalidScheduleError('key', `Two @Scheduled declarations with key '${d.key}': ${other.source} and ${source}. Each key names one schedule.`);
      }
      byKey.set(d.key, d);
    }
  }
  return [...byKey.values()];
}

/**
 * The enabled flag and next run a declaration gives `row` (undefined: a new
 * row) at `now`. A running schedule whose timing did not change keeps its
 * next run; a finished one (maxRuns reached, a once that ran) stays finished;
 * a once whose time passed without running is not run.
 */
export function declaredRun(fields: ScheduleFields, row: SchedulerTask | undefined, now: number): DeclaredRun {
  const off = (note: string): DeclaredRun => ({ enabled: false, nextRunAt: null, note });
  if (!fields.enabled) return { enabled: false, nextRunAt: null };
  const runCount = row?.runCount ?? 0;
  if (fields.maxRuns > 0 && runCount >= fields.maxRuns) return off(`finished: ${runCount} run(s) of maxRuns ${fields.maxRuns}`);
  const timingChanged = !row || TIMING_FIELDS.some((f) => comparable(fields[f]) !== comparable(row[f]));
  const keep = !timingChanged && row.enabled && row.nextRunAt !== null;
  if (fields.scheduleType !== 'once') {
    return { enabled: true, nextRunAt: keep ? row!.nextRunAt : initialRun(fields, changedFrom(now, row?.lastRunAt)) };
  }
  const at = fields.executeAt!;
  if (!timingChanged && row.lastRunAt?.getTime() === at.getTime()) return off(`finished: ran at ${at.toISOString()}`);
  if (keep) return { enabled: true, nextRunAt: row!.nextRunAt };
  if (at.getTime() < now - ONCE_PAST_TOLERANCE_MS) return off(`at ${at.toISOString()} has passed; not run`);
  return { enabled: true, nextRunAt: at };
}

/** sha256 of the declaration's columns, params with sorted keys so the literal's key order does not matter. */
function fingerprint(key: string, f: ScheduleFields): string {
  const values = [
    1, key, f.name, f.taskType, f.scheduleType, f.intervalSeconds ?? null, f.cronExpression ?? null, f.timezone, f.executeAt?.getTime() ?? null,
    canonical(JSON.parse(JSON.stringify(f.params))), f.maxRuns, f.description, f.enabled, f.misfirePolicy, f.priority,
    // appended only when not the default, so the declarations stored before overlap existed keep their hash
    ...(f.overlap === 'allow' ? [] : [f.overlap]),
    ...(f.flow === null ? [] : [{ flow: canonical(f.flow) }]),
  ];
  return createHash('sha256').update(JSON.stringify(values)).digest('hex');
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  return Object.fromEntries(Object.keys(object).sort().map((k) => [k, canonical(object[k])]));
}
