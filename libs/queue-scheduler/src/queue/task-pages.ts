import { describeValue, InvalidArgumentError } from '../errors/errors';
import type { TaskRecord, TaskStatus } from '../interfaces/task.interface';
import { keyProblem } from './json-value';
import type { ListTasksFilter, TaskPage } from './task-queue';
import { MAX_KEY_LENGTH } from './task-validation';

/** The largest page `listTasks` returns on every backend: a bound on one read, not a default. */
export const MAX_PAGE = 10_000;
const DEFAULT_PAGE = 100;

/** A validated `listTasks` request: the page size and, from the cursor, the push order to list below. */
export interface PageRequest {
  limit: number;
  /** List tasks pushed before this push order (the cursor); undefined from the newest. */
  before?: number;
  /**
   * With `before`: the last listed task's id, on a backend whose push orders can repeat (the database's,
   * made by each instance from its clock): of the tasks at push order `before`, list those whose id sorts
   * below it. Undefined: none of them.
   */
  beforeId?: string;
}

/** Every status a task can have, in lifecycle order (the dashboard's filter lists them so). */
export const TASK_STATUSES: readonly TaskStatus[] = ['pending', 'waiting', 'running', 'succeeded', 'failed', 'dead', 'cancelled'];
const STATUSES: ReadonlySet<string> = new Set(TASK_STATUSES);

/**
 * The one reading of a `listTasks` filter every backend applies, so a request
 * valid on one backend is valid on all and a bad one is refused alike: a
 * status the library has, a type a push could carry, `limit` an integer from
 * 1 to MAX_PAGE, and a cursor this queue issued. `null` reads as not given.
 */
export function pageRequest(filter: ListTasksFilter): PageRequest {
  if (filter === null || typeof filter !== 'object') {
    throw new InvalidArgumentError('filter', `filter must be an object ({ status, type, limit, cursor }), got ${describeValue(filter)}`);
  }
  const { status, type } = filter;
  if (status !== undefined && status !== null && !(typeof status === 'string' && STATUSES.has(status))) {
    throw new InvalidArgumentError('status', `status must be one of ${[...STATUSES].join(', ')}, got ${describeValue(status)}`);
  }
  const typeProblem = type === undefined || type === null ? null : keyProblem(type, MAX_KEY_LENGTH);
  if (typeProblem) throw new InvalidArgumentError('type', `type ${typeProblem}, got ${describeValue(type)}`);
  const limit = filter.limit ?? DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit <= 0 || limit > MAX_PAGE) {
    throw new InvalidArgumentError('limit', `limit must be an integer from 1 to ${MAX_PAGE}, got ${describeValue(limit)}`);
  }
  if (filter.cursor === undefined || filter.cursor === null) return { limit };
  const match = typeof filter.cursor === 'string' ? /^(\d+)(?::([\s\S]+))?$/.exec(filter.cursor) : null;
  const before = match ? Number(match[1]) : NaN;
  // push orders are safe integers on every backend (the database's are time-based, 16 digits)
  if (!Number.isSafeInteger(before) || (match?.[2] !== undefined && keyProblem(match[2], MAX_KEY_LENGTH) !== null)) {
    throw new InvalidArgumentError('cursor', `cursor is not one this queue issued, got ${describeValue(filter.cursor)}`);
  }
  return { limit, before, beforeId: match?.[2] };
}

/**
 * The page from up to `limit + 1` matches, newest first: reading one more
 * than the page tells whether a next one exists without a second read.
 * `idOf`: on a backend whose push orders can repeat, the cursor carries the
 * last item's id too (see PageRequest.beforeId).
 */
export function pageOf<T extends { seq: number }>(found: readonly T[], limit: number, record: (item: T) => TaskRecord, idOf?: (item: T) => string): TaskPage {
  const items = found.slice(0, limit);
  const last = items[items.length - 1];
  return { items: items.map(record), nextCursor: found.length > limit ? (idOf ? `${last.seq}:${idOf(last)}` : String(last.seq)) : undefined };
}
