import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { MisfirePolicy, ScheduleType } from '../scheduler/math/schedule-math';
import type { OverlapPolicy } from '../scheduler/overlap';
import { epochMs, jsonText, nullableJsonText } from './column-transformers';

/**
 * One persistent schedule (table `scheduler_task`). Every time column is
 * epoch ms (see `epochMs`). `version` grows on every change: firing and
 * editing are compare-and-set on it, so concurrent instances never both win.
 * @publicApi
 */
@Entity({ name: 'scheduler_task' })
export class SchedulerTask {
  @PrimaryColumn({ name: 'task_id', type: 'varchar', length: 36, primaryKeyConstraintName: 'pk_scheduler_task' })
  taskId!: string;

  @Column({ type: 'varchar', length: 255 })
  name!: string;

  /** Stable key of a schedule declared in code; null for schedules made through the API. */
  @Index('uq_scheduler_task_schedule_key', { unique: true })
  @Column({ name: 'schedule_key', type: 'varchar', length: 191, nullable: true })
  scheduleKey!: string | null;

  /**
   * Fingerprint of the `@Scheduled` declaration last written to this row: a
   * declared schedule is rewritten only when its declaration changes. Null for
   * API schedules and for declared ones whose declaration was removed.
   */
  @Column({ name: 'declared_hash', type: 'varchar', length: 64, nullable: true })
  declaredHash!: string | null;

  @Column({ name: 'task_type', type: 'varchar', length: 191 })
  taskType!: string;

  @Column({ type: 'text', transformer: jsonText })
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- TypeORM's partial-entity types reject `unknown` values
  params!: Record<string, any>;

  @Column({ name: 'schedule_type', type: 'varchar', length: 16 })
  scheduleType!: ScheduleType;

  @Column({ name: 'interval_seconds', type: 'int', nullable: true })
  intervalSeconds!: number | null;

  @Column({ name: 'cron_expression', type: 'varchar', length: 255, nullable: true })
  cronExpression!: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  timezone!: string | null;

  @Column({ name: 'execute_at', type: 'bigint', nullable: true, transformer: epochMs })
  executeAt!: Date | null;

  @Column({ name: 'last_run_at', type: 'bigint', nullable: true, transformer: epochMs })
  lastRunAt!: Date | null;

  /** Null while paused or finished; the scheduler scans this index for due rows. */
  @Index('idx_scheduler_task_next_run_at')
  @Column({ name: 'next_run_at', type: 'bigint', nullable: true, transformer: epochMs })
  nextRunAt!: Date | null;

  @Column({ name: 'run_count', type: 'int', default: 0 })
  runCount!: number;

  /** 0: no limit. */
  @Column({ name: 'max_runs', type: 'int', default: 0 })
  maxRuns!: number;

  @Column({ type: 'boolean', default: true })
  enabled!: boolean;

  @Column({ name: 'misfire_policy', type: 'varchar', length: 16, default: 'fire_once' })
  misfirePolicy!: MisfirePolicy;

  /** Whether an occurrence may start while the schedule's previous run is unfinished: 'allow', 'skip' or 'wait'. */
  @Column({ type: 'varchar', length: 8, default: 'allow' })
  overlap!: OverlapPolicy;

  /** Priority of the tasks this schedule pushes. */
  @Column({ type: 'int', default: 0 })
  priority!: number;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  /** A flow schedule's children template, a `ScheduleFlow` (each occurrence's task is their root); null for a plain schedule. */
  @Column({ type: 'text', nullable: true, transformer: nullableJsonText })
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as params: TypeORM's partial-entity types reject the `unknown` params of FlowInput
  flow!: { children: any[] } | null;

  @Column({ type: 'int', default: 0 })
  version!: number;

  @Column({ name: 'created_at', type: 'bigint', transformer: epochMs })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'bigint', transformer: epochMs })
  updatedAt!: Date;
}
