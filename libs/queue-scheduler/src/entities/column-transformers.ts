import type { ValueTransformer } from 'typeorm';

/**
 * Times are stored as UTC epoch milliseconds in BIGINT columns: every
 * database compares them alike, no driver or session time-zone setting can
 * shift a schedule, and compare-and-set on next_run_at is exact.
 */
export const epochMs: ValueTransformer = {
  to: (value: Date | number | null | undefined) => {
    if (value === null || value === undefined) return value;
    return value instanceof Date ? value.getTime() : value;
  },
  from: (value: string | number | null) => (value === null || value === undefined ? null : new Date(Number(value))),
};

/** JSON in a TEXT column: one behaviour on MySQL/MariaDB, PostgreSQL and SQLite. */
export const jsonText: ValueTransformer = {
  to: (value: unknown) => (value === undefined ? null : JSON.stringify(value)),
  from: (value: string | null) => (value === null || value === undefined ? null : JSON.parse(value)),
};

/** jsonText for a nullable column: null stays SQL NULL (jsonText would store the text 'null'). */
export const nullableJsonText: ValueTransformer = {
  to: (value: unknown) => (value === undefined || value === null ? null : JSON.stringify(value)),
  from: jsonText.from,
};
