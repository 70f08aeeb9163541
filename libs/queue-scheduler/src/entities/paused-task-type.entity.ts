import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMs } from './column-transformers';

/**
 * A task type no worker may start (table `queue_paused_type`), written by
 * `pauseType` and removed by `resumeType`; every instance reads the table
 * once per `queue.pollIntervalMs` while it claims. @publicApi
 */
@Entity({ name: 'queue_paused_type' })
export class PausedTaskType {
  @PrimaryColumn({ name: 'task_type', type: 'varchar', length: 191, primaryKeyConstraintName: 'pk_queue_paused_type' })
  taskType!: string;

  @Column({ name: 'paused_at', type: 'bigint', transformer: epochMs })
  pausedAt!: Date;
}
