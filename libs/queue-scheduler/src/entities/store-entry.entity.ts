import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { epochMs } from './column-transformers';

/** One key of the public store on the database backend (table `queue_store`). @publicApi */
@Entity({ name: 'queue_store' })
export class StoreEntry {
  @PrimaryColumn({ name: 'store_key', type: 'varchar', length: 191, primaryKeyConstraintName: 'pk_queue_store' })
  key!: string;

  @Column({ type: 'json' })
  value!: unknown;

  /** Null: never expires. */
  @Index('idx_queue_store_expires_at')
  @Column({ name: 'expires_at', type: 'bigint', nullable: true, transformer: epochMs })
  expiresAt!: Date | null;

  @Column({ name: 'updated_at', type: 'bigint', transformer: epochMs })
  updatedAt!: Date;
}
