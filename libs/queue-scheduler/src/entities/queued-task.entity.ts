import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { epochMs } from './column-transformers';

/** The finished statuses as an SQL list: the retention queries' `status IN …` and idx_task_queue_finished's predicate, the same term. */
export const FINISHED = "('succeeded', 'dead', 'cancelled')";

/**
 * The status indexes' predicates (PostgreSQL and SQLite; MySQL has no partial
 * index, and TypeORM leaves them out there). A claim and an outcome each move
 * a row from one status to another: with an index over every row, both wrote
 * three index entries out and three in; with each index over its statuses
 * only, one out and one in. SQLite drained no-op tasks 25-35% faster. A query
 * uses one of them only when its WHERE holds the same term (SQLite proves no
 * more than that): `status = 'pending'`, `status = 'running'`, `status IN
 * ('succeeded', 'dead', 'cancelled')`, or 'waiting' written as its own term.
 */
export const TASK_INDEX_WHERE = {
  claim: "status = 'pending' OR status = 'waiting'",
  lease: "status = 'running'",
  finished: `status IN ${FINISHED}`,
} as const;

/**
 * One task of the database backend (table `task_queue`), and afterwards its
 * run history. A retry waiting for its time is stored as `pending` with
 * `retry_count` > 0 and reported as `failed`, so the claim scans one status.
 * @publicApi
 */
@Entity({ name: 'task_queue' })
@Index('idx_task_queue_claim', ['status', 'priority', 'runAt', 'seq'], { where: TASK_INDEX_WHERE.claim })
@Index('idx_task_queue_lease', ['status', 'leaseExpiresAt'], { where: TASK_INDEX_WHERE.lease })
@Index('idx_task_queue_finished', ['status', 'completedAt'], { where: TASK_INDEX_WHERE.finished })
@Index('idx_task_queue_seq', ['seq'])
@Index('idx_task_queue_parent', ['parentId'])
@Index('uq_task_queue_occurrence', ['schedulerTaskId', 'scheduledAt'], { unique: true })
export class QueuedTask {
  @PrimaryColumn({ name: 'task_id', type: 'varchar', length: 191, primaryKeyConstraintName: 'pk_task_queue' })
  taskId!: string;

  /** Push order (epoch µs, strictly increasing per process): FIFO within a priority, and the listing cursor. */
  @Column({ type: 'bigint' })
  seq!: string;

  @Column({ name: 'task_type', type: 'varchar', length: 191 })
  taskType!: string;

  /** A JSON column: no size limit short of the server's packet size (MySQL's TEXT would stop at 64 KiB). */
  @Column({ type: 'json' })
  params!: unknown;

  @Column({ type: 'varchar', length: 16 })
  status!: string;

  @Column({ type: 'int', default: 0 })
  priority!: number;

  @Column({ name: 'run_at', type: 'bigint', transformer: epochMs })
  runAt!: Date;

  /** Tries started, the running one included. */
  @Column({ type: 'int', default: 0 })
  attempts!: number;

  /** Failed tries recorded (a try lost with its worker is not one). */
  @Column({ name: 'retry_count', type: 'int', default: 0 })
  retryCount!: number;

  @Column({ name: 'max_retries', type: 'int', nullable: true })
  maxRetries!: number | null;

  @Column({ name: 'scheduler_task_id', type: 'varchar', length: 36, nullable: true })
  schedulerTaskId!: string | null;

  @Column({ name: 'scheduled_at', type: 'bigint', nullable: true, transformer: epochMs })
  scheduledAt!: Date | null;

  @Column({ name: 'lease_owner', type: 'varchar', length: 64, nullable: true })
  leaseOwner!: string | null;

  @Column({ name: 'lease_expires_at', type: 'bigint', nullable: true, transformer: epochMs })
  leaseExpiresAt!: Date | null;

  @Column({ name: 'error_message', type: 'text', nullable: true })
  errorMessage!: string | null;

  /** The stack of the failure `error_message` tells (at most MAX_ERROR_STACK_CHARS characters). */
  @Column({ name: 'error_stack', type: 'text', nullable: true })
  errorStack!: string | null;

  /**
   * The tries that failed, timed out or were lost and were followed by
   * another, oldest first (the last MAX_TRIES_KEPT): written only then, so a
   * first try that succeeds writes nothing here. The current or final try is
   * read from the row's own columns.
   */
  @Column({ type: 'json', nullable: true })
  tries!: unknown;

  /** The handler's resolved value. */
  @Column({ type: 'json', nullable: true })
  result!: unknown;

  @Column({ name: 'created_at', type: 'bigint', transformer: epochMs })
  createdAt!: Date;

  @Column({ name: 'started_at', type: 'bigint', nullable: true, transformer: epochMs })
  startedAt!: Date | null;

  @Column({ name: 'completed_at', type: 'bigint', nullable: true, transformer: epochMs })
  completedAt!: Date | null;

  /** The last `ctx.progress()` report written (throttled to one per queue.progressIntervalMs). */
  @Column({ type: 'json', nullable: true })
  progress!: unknown;

  /** 1: `cancelTask` asked the running try to stop; the instance running it aborts its signal within one poll. */
  @Column({ name: 'cancel_requested', type: 'int', default: 0 })
  cancelRequested!: number;
  /** The push's `singletonKey`, for the status API; which task holds a key is `task_singleton`'s to say. */
  @Column({ name: 'singleton_key', type: 'varchar', length: 191, nullable: true })
  singletonKey!: string | null;

  /**
   * With `tracing: true`: the W3C traceparent of the push's span, then `;` and
   * its tracestate, checked before it is written; the tries' spans link to it.
   * 55 + 1 + 512 characters (OpenTelemetry keeps no longer tracestate).
   */
  @Column({ name: 'trace_context', type: 'varchar', length: 568, nullable: true })
  traceContext!: string | null;

  /** In a flow: the task this one is a child of. */
  @Column({ name: 'parent_id', type: 'varchar', length: 191, nullable: true })
  parentId!: string | null;

  /** A flow's parent: children not yet ended as their `on_child_failure` allows; it leaves `waiting` at 0. */
  @Column({ name: 'pending_children', type: 'int', default: 0 })
  pendingChildren!: number;

  /** In a flow: how the parent treats this child's failure ('fail', 'ignore' or 'continue'). */
  @Column({ name: 'on_child_failure', type: 'varchar', length: 16, nullable: true })
  onChildFailure!: string | null;
}
