import type { Dialect, Sql } from '../../../database/sql';
import type { PausedTypesStore } from '../../durable-queue';
import type { Statement } from './statement';

/** A type paused twice stays one row: the conflict on the key is the only one these statements can meet. */
const PAUSE: Record<Dialect, string> = {
  mysql: 'INSERT INTO queue_paused_type (task_type, paused_at) VALUES (?, ?) ON DUPLICATE KEY UPDATE task_type = task_type',
  postgres: 'INSERT INTO queue_paused_type (task_type, paused_at) VALUES (?, ?) ON CONFLICT (task_type) DO NOTHING',
  sqlite: 'INSERT INTO queue_paused_type (task_type, paused_at) VALUES (?, ?) ON CONFLICT (task_type) DO NOTHING',
};

export function pauseType(dialect: Dialect, type: string, now: number): Statement {
  return { text: PAUSE[dialect], params: [type, now] };
}

export function resumeType(type: string): Statement {
  return { text: 'DELETE FROM queue_paused_type WHERE task_type = ?', params: [type] };
}

export const PAUSED_TYPES = 'SELECT task_type FROM queue_paused_type';

/** The paused types of the database backend: rows of `queue_paused_type`, shared by every instance on the database. */
export function databasePausedTypes(sql: Sql): PausedTypesStore {
  return {
    load: async () => (await sql.rows<{ task_type: string }>(PAUSED_TYPES)).map((r) => r.task_type),
    pause: async (type) => {
      const { text, params } = pauseType(sql.dialect, type, Date.now());
      await sql.affected(text, params);
    },
    resume: async (type) => {
      const { text, params } = resumeType(type);
      await sql.affected(text, params);
    },
  };
}
