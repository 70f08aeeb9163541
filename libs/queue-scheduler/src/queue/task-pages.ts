import { describeValue, InvalidArgumentError } from '../errors/errors';
import type { TaskRecord } from '../interfaces/task.interface';
import type { ListTasksFilter, TaskPage } from './task-queue';

/** The largest page `listTasks` returns on every backend: a bound on one read, not a default. */
export const MAX_PAGE = 10_000;
const DEFAULT_PAGE = 100;

/** A validated `listTasks` request: the page size and, from the cursor, the push order to list below. */
export interface PageRequest {
  limit: number;
  /** List tasks pushed before this push order (the cursor); undefined from the newest. */
  before?: number;
}

/**
 * The one reading of `limit` and `cursor` every backend applies, so a page
 * request valid on one backend is valid on all (an integer from 1 to
 * MAX_PAGE; a cursor is a push order this queue issued).
 */
export function pageRequest(filter: ListTasksFilter): PageRequest {
  const limit = filter.limit ?? DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit <= 0 || limit > MAX_PAGE) {
    throw new InvalidArgumentError('limit', `limit must be an integer from 1 to ${MAX_PAGE}, got ${describeValue(limit)}`);
  }
  if (filter.cursor === undefined) return { limit };
  const before = typeof filter.cursor === 'string' && /^\d+$/.test(filter.cursor) ? Number(filter.cursor) : NaN;
  // push orders are safe integers on every backend (the database's are time-based, 16 digits)
  if (!Number.isSafeInteger(before)) {
    throw new InvalidArgumentError('cursor', `cursor is not one this queue issued, got ${describeValue(filter.cursor)}`);
  }
  return { limit, before };
}

/**
 * The page from up to `limit + 1` matches, newest first: reading one more
 * than the page tells whether a next one exists without a second read.
 */
export function pageOf<T extends { seq: number }>(found: readonly T[], limit: number, record: (item: T) => TaskRecord): TaskPage {
  const items = found.slice(0, limit);
  return { items: items.map(record), nextCursor: found.length > limit ? String(items[items.length - 1].seq) : undefined };
}
