import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/**
 * One outcome of a try, as `clusterEvents$` reports it (table `task_event`),
 * written with `queue.clusterEvents` on in the transaction of the status
 * change it reports; kept for `queue.clusterEventsRetentionMs`. Readers page
 * through it by `id` alone, so it needs no other index. @publicApi
 */
@Entity({ name: 'task_event' })
export class RecordedTaskEvent {
  @PrimaryGeneratedColumn('increment', { type: 'bigint', primaryKeyConstraintName: 'pk_task_event' })
  id!: string;

  @Column({ name: 'task_id', type: 'varchar', length: 191 })
  taskId!: string;

  @Column({ name: 'task_type', type: 'varchar', length: 191 })
  taskType!: string;

  /** succeeded, retrying, dead or cancelled. */
  @Column({ type: 'varchar', length: 16 })
  kind!: string;

  @Column({ type: 'int' })
  attempt!: number;

  /** Epoch ms, the writer's clock. */
  @Column({ name: 'recorded_at', type: 'bigint' })
  recordedAt!: string;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ name: 'duration_ms', type: 'int', nullable: true })
  durationMs!: number | null;
}
