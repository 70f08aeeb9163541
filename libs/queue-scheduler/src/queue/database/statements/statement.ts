/**
 * A named statement of the database backend: its SQL, with `?` placeholders
 * on every dialect (see `Sql`), and the values for them in order. The text of
 * every statement the backend sends lives in this folder, one file per
 * operation, so the services show only which statements run, in which
 * transaction and in which order.
 */
export interface Statement {
  readonly text: string;
  readonly params: unknown[];
}

/** The statuses a task ends in: retention purges them, and a push of a finished id queues it anew. */
export { FINISHED } from '../../../entities/queued-task.entity';
