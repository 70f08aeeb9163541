import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * The starts of one rate-limited task type in its current window (table
 * `queue_rate_window`), shared by every instance on the database. @publicApi
 */
@Entity({ name: 'queue_rate_window' })
export class RateWindow {
  @PrimaryColumn({ name: 'task_type', type: 'varchar', length: 191, primaryKeyConstraintName: 'pk_queue_rate_window' })
  taskType!: string;

  /** Epoch ms: windows are aligned on multiples of the type's `rateLimit.perMs`. */
  @Column({ name: 'window_start', type: 'bigint' })
  windowStart!: string;

  @Column({ type: 'int' })
  used!: number;
}
