import type { Observable } from 'rxjs';
import type { Sql } from '../../database/sql';
import { describeValue, InvalidArgumentError } from '../../errors/errors';
import type { ResolvedOptions } from '../../interfaces/options.interface';
import type { ClusterTaskEvent } from '../../interfaces/task.interface';
import type { LibraryLogger } from '../../queue-scheduler.logger';
import { type ClusterEventSource, pause, ReadFailures, readLoop } from '../cluster-events';
import { type GapHolders, OpenWriters } from './open-writers';
import { PgEventListener } from './pg-event-listener';
import { LATEST_EVENT, readEvents, type StoredEventRow, streamStart } from './statements/task-events';

/** Events read per statement; a full page is followed at once by the next. */
const PAGE = 500;
/**
 * How long a reader waits at least for a missing id before it skips it. Ids
 * are taken when a row is inserted but become visible when its transaction
 * commits, in any order (InnoDB's autoincrement, PostgreSQL's sequences): a
 * reader may see 12 before 11. Past this, the gap is held only while a
 * transaction that may still fill it is open (OpenWriters: one that wrote
 * `task_event` when the reader first saw the gap on PostgreSQL, one holding
 * a missing id on MySQL), up to GAP_WRITER_HOLD_MS.
 */
export const GAP_GRACE_MS = 2000;
/** The longest a gap holds a reader while such a transaction stays open (one that never ends must not stop the stream). */
export const GAP_WRITER_HOLD_MS = 5 * 60_000;
/** While a gap holds a reader, it looks again this often (the missing commit is usually a few ms away); past the grace, less often. */
const HOLD_POLL_MS = 20;
const LONG_HOLD_POLL_MS = 100;
/** PostgreSQL readers are woken by NOTIFY; they also poll, this many times slower, for a notification lost with its connection. */
const PG_POLL_FACTOR = 10;

/**
 * `clusterEvents$` on the databases: each subscriber pages through
 * `task_event` by id (`WHERE id > cursor ORDER BY id LIMIT n`, the primary key
 * only), every queue.clusterEventsPollMs, or on PostgreSQL when a NOTIFY
 * says a commit wrote some. Ids are delivered in order and never twice; a
 * gap in them holds the reader (GAP_GRACE_MS, see there).
 */
export class DatabaseClusterEvents implements ClusterEventSource {
  private readonly stopped = new AbortController();
  private readonly listener: PgEventListener | undefined;
  private readonly writers: OpenWriters;

  constructor(
    private readonly sql: Sql,
    private readonly options: ResolvedOptions,
    private readonly logger: LibraryLogger,
  ) {
    this.listener = sql.dialect === 'postgres' ? new PgEventListener(sql, logger) : undefined;
    this.writers = new OpenWriters(sql, logger);
  }

  stream(after: string | undefined): Observable<ClusterTaskEvent> {
    if (after !== undefined && !/^(0|[1-9]\d{0,14})$/.test(after)) throw new InvalidArgumentError('after', `not an event id of this queue: ${describeValue(after)}`);
    const start = after === undefined ? undefined : Number(after);
    return readLoop(async (emit, signal) => {
      // "from now" is the subscribe() call (this runs within it), not the first read, which may come after a push
      const since = Date.now();
      const both = AbortSignal.any([signal, this.stopped.signal]);
      this.listener?.subscribed();
      try {
        await this.read(start, emit, both, since, after);
      } finally {
        this.listener?.unsubscribed();
      }
    });
  }

  /** Module destroy: every reader ends (its stream completes) before the DataSource closes. */
  close(): void {
    this.stopped.abort();
    this.listener?.close();
  }

  private async read(start: number | undefined, emit: (event: ClusterTaskEvent) => void, signal: AbortSignal, since: number, after?: string): Promise<void> {
    const failures = new ReadFailures(this.logger, 'clusterEvents$');
    const poll = this.options.queue.clusterEventsPollMs * (this.listener ? PG_POLL_FACTOR : 1);
    const onWake = this.listener ? (wake: () => void) => this.listener!.onNotify(wake) : undefined;
    let cursor = start;
    /** A fresh reader starting on an empty table takes whatever id comes first. */
    let anchored = start !== undefined;
    let gapSince: number | undefined;
    /** What may still fill the current gap (see OpenWriters); undefined where that cannot be read. */
    let gapWriters: GapHolders | undefined;
    /** Every one of gapWriters was found ended before the latest read: a gap that read still showed will not fill. */
    let writersGone = false;
    /** An `after` past the newest event is no id of this table (another database's, or from before it was recreated). */
    let checked = start === undefined || start === 0;
    while (!signal.aborted) {
      let rows: StoredEventRow[];
      try {
        if (!checked) {
          // the sweep never deletes the newest row, so MAX(id) is the newest id this table ever gave
          const latest = Number((await this.sql.rows<{ id: string | number | null }>(LATEST_EVENT))[0]?.id ?? 0);
          if (start! > latest) throw new InvalidArgumentError('after', `not an event id of this queue: ${describeValue(after)} is past its newest event (${latest || 'none'})`);
          checked = true;
        }
        if (cursor === undefined) {
          const { text, params } = streamStart(since);
          const [first] = await this.sql.rows<{ anchor: string | number | null; lowest: string | number | null }>(text, params);
          const anchor = first?.anchor ?? (first?.lowest === null || first?.lowest === undefined ? null : Number(first.lowest) - 1);
          cursor = anchor === null ? 0 : Number(anchor);
          anchored = anchor !== null;
        }
        const { text, params } = readEvents(cursor, PAGE);
        rows = await this.sql.rows<StoredEventRow>(text, params);
        failures.ok();
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof InvalidArgumentError) throw err;
        failures.failed(err);
        await pause(Math.max(poll, 1000), signal);
        continue;
      }
      let held = false;
      let heldByWriters = false;
      for (const row of rows) {
        const id = Number(row.id);
        if (anchored && id !== cursor + 1) {
          const now = Date.now();
          if (gapSince === undefined) {
            gapSince = now;
            gapWriters = await this.writers.holders(cursor!, id);
            writersGone = false;
          }
          // a gap behind a row written long ago (a resume, pruned rows) is not waited for, unless a writer of then is still open
          const young = now - gapSince < GAP_GRACE_MS && now - Number(row.recorded_at) < GAP_GRACE_MS;
          const writing = gapWriters !== undefined && !writersGone && now - gapSince < GAP_WRITER_HOLD_MS;
          if (young || writing) {
            held = true;
            heldByWriters = !young;
            break;
          }
          // still open at the cap, or ended (rolled back) or never listed
          if (gapWriters !== undefined && !writersGone) {
            this.logger.warn(`clusterEvents$: event ids ${cursor + 1}..${id - 1} held this reader for ${GAP_WRITER_HOLD_MS / 60_000} min behind a transaction still open; going on from ${id} (their events, if they commit, are not delivered)`);
          } else {
            this.logger.debug(`clusterEvents$: event ids ${cursor + 1}..${id - 1} never committed (rolled back or pruned); going on from ${id}`);
          }
        }
        gapSince = undefined;
        gapWriters = undefined;
        anchored = true;
        cursor = id;
        if (signal.aborted) return;
        emit(toEvent(row));
      }
      if (!held && rows.length === PAGE) continue;
      // checked between two reads, so a writer that commits after the check is seen by the next read
      if (heldByWriters) writersGone = !(await this.writers.anyOpen(gapWriters!));
      await pause(held ? (heldByWriters && !writersGone ? LONG_HOLD_POLL_MS : HOLD_POLL_MS) : poll, signal, onWake);
    }
  }
}

function toEvent(row: StoredEventRow): ClusterTaskEvent {
  const event: { -readonly [K in keyof ClusterTaskEvent]: ClusterTaskEvent[K] } = {
    id: String(row.id),
    kind: row.kind,
    taskId: row.task_id,
    type: row.task_type,
    attempt: Number(row.attempt),
    at: new Date(Number(row.recorded_at)),
  };
  if (row.duration_ms !== null) event.durationMs = Number(row.duration_ms);
  if (row.error !== null) event.error = row.error;
  return event;
}
