import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One singleton key of the database backend (table `task_singleton`): the
 * task that holds it and when that push was accepted. The primary key makes
 * the key's row the one lock every pushing instance takes in turn, in the
 * push's own transaction, so no two instances both see the key free.
 * `task_id` is '' while no push has been accepted yet.
 * @publicApi
 */
@Entity({ name: 'task_singleton' })
export class TaskSingleton {
  @PrimaryColumn({ name: 'singleton_key', type: 'varchar', length: 191, primaryKeyConstraintName: 'pk_task_singleton' })
  singletonKey!: string;

  @Column({ name: 'task_id', type: 'varchar', length: 191 })
  taskId!: string;

  /** Epoch ms of the last accepted push, the start of a throttle window. */
  @Column({ name: 'accepted_at', type: 'bigint' })
  acceptedAt!: string;
}
