import type { Sql } from '../../../database/sql';
import { taskColumns } from '../task-rows';
import type { Statement } from './statement';

/** What a claim writes on each row it takes: params started_at, lease_owner, lease_expires_at. */
/** A cancel request is for one try: a new try starts without it. */
const SET_RUNNING = "SET status = 'running', attempts = attempts + 1, started_at = ?, lease_owner = ?, lease_expires_at = ?, cancel_requested = 0";

/** The due rows of `types` in claim order, at most `limit`: params run_at bound, ...types. */
function due(sql: Sql, types: number, limit: number): string {
  return `FROM task_queue WHERE status = 'pending' AND run_at <= ? AND task_type IN (${sql.list(types)}) ORDER BY priority, run_at, seq LIMIT ${limit}`;
}

/** Free slots of the types whose cap (handler concurrency, rate permits) is below the claim's limit. */
export type ClaimCaps = ReadonlyArray<readonly [type: string, slots: number]>;

/** The caps of `remaining` that can bind a claim of `limit` rows of `types`. */
export function capsOf(types: readonly string[], remaining: ReadonlyMap<string, number> | undefined, limit: number): ClaimCaps {
  if (!remaining?.size) return [];
  const caps: Array<[string, number]> = [];
  for (const type of types) {
    const slots = remaining.get(type);
    if (slots !== undefined && slots < limit) caps.push([type, Math.max(0, Math.floor(slots))]);
  }
  return caps;
}

/**
 * The ids of the due rows that fit the caps: the rows past a type's cap stay pending. Extras claimed and given back
 * afterwards were `running` in between, and a push of a singleton key seeing its holder running queued a second
 * task under the key, leaving two pending once the extra came back. Window over the batch only (at most `limit`
 * rows), so a capped type costs what the plain claim costs. params: ...caps' types (the slots are integers written out).
 */
function withinCaps(batch: string, caps: ClaimCaps, limit: number): { text: string; params: string[] } {
  const slots = caps.map(([, n]) => `WHEN ? THEN ${n}`).join(' ');
  const text = `SELECT task_id FROM (SELECT task_id, task_type, ROW_NUMBER() OVER (PARTITION BY task_type ORDER BY priority, run_at, seq) AS nth FROM (${batch}) batch) ranked WHERE nth <= CASE task_type ${slots} ELSE ${limit} END`;
  return { text, params: caps.map(([type]) => type) };
}

/** The locked rows of a MySQL claim that fit the caps, in claim order (see withinCaps). */
export function fitCaps<R extends { task_type: string }>(rows: readonly R[], caps: ClaimCaps): R[] {
  if (caps.length === 0) return [...rows];
  const left = new Map(caps);
  return rows.filter((row) => {
    const slots = left.get(row.task_type);
    if (slots === undefined) return true;
    left.set(row.task_type, slots - 1);
    return slots > 0;
  });
}

/** MySQL, first of the claim's two statements: locks the due rows and reads them whole. */
export function lockDue(sql: Sql, now: number, types: readonly string[], limit: number): Statement {
  return { text: `SELECT ${taskColumns(sql)} ${due(sql, types.length, limit)} FOR UPDATE SKIP LOCKED`, params: [now, ...types] };
}

/** MySQL, second of the claim's two statements: marks the locked rows running under this instance's lease. */
export function markRunning(sql: Sql, now: number, owner: string, lease: number, ids: string[]): Statement {
  return { text: `UPDATE task_queue ${SET_RUNNING} WHERE task_id IN (${sql.list(ids.length)})`, params: [now, owner, lease, ...ids] };
}

/**
 * PostgreSQL and SQLite: the claim in one UPDATE … RETURNING. On PostgreSQL
 * ANY(ARRAY(…)) rather than IN (…): once the planner knew a backlog, IN became a hash join over the whole table.
 */
export function claimDue(sql: Sql, now: number, owner: string, lease: number, types: readonly string[], limit: number, caps: ClaimCaps = []): Statement {
  const lock = sql.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
  let ids = `SELECT task_id ${due(sql, types.length, limit)}${lock}`;
  let capTypes: string[] = [];
  if (caps.length > 0) {
    const capped = withinCaps(`SELECT task_id, task_type, priority, run_at, seq ${due(sql, types.length, limit)}${lock}`, caps, limit);
    [ids, capTypes] = [capped.text, capped.params];
  }
  const rows = sql.dialect === 'postgres' ? `= ANY(ARRAY(${ids}))` : `IN (${ids})`;
  return { text: `UPDATE task_queue ${SET_RUNNING} WHERE task_id ${rows} RETURNING ${taskColumns(sql)}`, params: [now, owner, lease, now, ...types, ...capTypes] };
}

/** PostgreSQL, inside the claim's transaction while a backlog lasts: no sort plan (see DatabaseConsumer.claim). */
export const NO_SORT = 'SET LOCAL enable_sort = off';

/** PostgreSQL, beside NO_SORT for a capped claim (see claimRows). */
export const NO_JIT = 'SET LOCAL jit = off';
