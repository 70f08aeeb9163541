import { QUEUE_SCHEDULER_ENTITIES, QUEUE_SCHEDULER_MIGRATIONS } from 'nestjs-queue-scheduler';
import { Sql } from 'nestjs-queue-scheduler/database/sql';
import { claimDue } from 'nestjs-queue-scheduler/queue/database/statements/claim';
import { anyExpired, anyFinishedBefore, purgeFinished, reclaimExpired } from 'nestjs-queue-scheduler/queue/database/statements/leases';
import type { Statement } from 'nestjs-queue-scheduler/queue/database/statements/statement';
import { COUNT_PENDING, COUNT_UNFINISHED, RUNNING_BY_OWNER } from 'nestjs-queue-scheduler/queue/database/statements/status';
import { cancelRequests } from 'nestjs-queue-scheduler/queue/database/statements/tasks';
import { DataSource, type DataSourceOptions, type QueryRunner } from 'typeorm';
import { DATABASES, type DatabaseKind, useTestDatabase } from './support/databases';

/**
 * task_queue's status indexes are partial on PostgreSQL and SQLite (each over
 * its statuses only: a claim and an outcome write a third of the index entries).
 * A partial index serves a query only when the query's WHERE implies its
 * predicate, and SQLite proves no more than a term written the same way: a
 * query reworded, or a predicate changed, would quietly read the whole table.
 * Each hot or periodic query is explained here on a schema made by the
 * migrations and on one made by synchronize, which must agree.
 */
const KINDS = DATABASES.filter((k): k is 'sqlite' | 'postgres' => k === 'sqlite' || k === 'postgres');

const NOW = 1_800_000_000_000;

/** The statements and the index each must read task_queue through (every one it names, in any order). */
function statements(sql: Sql): Array<[string, Statement, string[]]> {
  return [
    ['the claim', claimDue(sql, NOW, 'owner', NOW + 30_000, ['a', 'b'], 100), ['idx_task_queue_claim']],
    ['the lease sweep', reclaimExpired(sql, NOW), ['idx_task_queue_lease']],
    ["the lease sweep's look", anyExpired(NOW), ['idx_task_queue_lease']],
    ['retention', purgeFinished(sql, NOW), ['idx_task_queue_finished']],
    ["retention's look", anyFinishedBefore(NOW), ['idx_task_queue_finished']],
    ['queueSize()', { text: COUNT_PENDING, params: [] }, ['idx_task_queue_claim']],
    ['the unfinished count (onIdle)', { text: COUNT_UNFINISHED, params: [] }, ['idx_task_queue_claim', 'idx_task_queue_lease']],
    ['runningByInstance()', { text: RUNNING_BY_OWNER, params: [] }, ['idx_task_queue_lease']],
    ['the cancel requests', cancelRequests('owner'), ['idx_task_queue_lease']],
  ];
}

/** The plan's lines: SQLite's EXPLAIN QUERY PLAN details, PostgreSQL's EXPLAIN text with sequential scans priced out. */
async function plan(kind: DatabaseKind, runner: QueryRunner, { text, params }: Statement): Promise<string[]> {
  if (kind === 'sqlite') {
    const rows = (await runner.query(`EXPLAIN QUERY PLAN ${text}`, params)) as Array<{ detail: string }>;
    return rows.map((r) => r.detail);
  }
  let i = 0;
  const rows = (await runner.query(`EXPLAIN ${text.replace(/\?/g, () => `$${++i}`)}`, params)) as Array<{ 'QUERY PLAN': string }>;
  return rows.map((r) => r['QUERY PLAN']);
}

/** The predicate of each of task_queue's indexes, as the database reports it ('' for a full index). */
async function predicates(kind: DatabaseKind, runner: QueryRunner): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (kind === 'sqlite') {
    const rows = (await runner.query("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'task_queue' AND sql IS NOT NULL")) as Array<{ name: string; sql: string }>;
    for (const r of rows) out[r.name] = /\bWHERE\b(.*)$/is.exec(r.sql)?.[1].trim() ?? '';
  } else {
    const rows = (await runner.query("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'task_queue'")) as Array<{ indexname: string; indexdef: string }>;
    for (const r of rows) out[r.indexname] = /\bWHERE\b(.*)$/is.exec(r.indexdef)?.[1].trim() ?? '';
  }
  return out;
}

describe.each(KINDS)('task_queue status indexes on %s', (kind) => {
  const migrated = useTestDatabase(kind);
  const synchronized = useTestDatabase(kind);
  const sources: Partial<Record<'migrations' | 'synchronize', DataSource>> = {};

  beforeAll(async () => {
    sources.migrations = new DataSource({ ...migrated.options, entities: QUEUE_SCHEDULER_ENTITIES, migrations: QUEUE_SCHEDULER_MIGRATIONS, migrationsRun: true } as DataSourceOptions);
    sources.synchronize = new DataSource({ ...synchronized.options, entities: QUEUE_SCHEDULER_ENTITIES, synchronize: true } as DataSourceOptions);
    await sources.migrations.initialize();
    await sources.synchronize.initialize();
  });

  afterAll(async () => {
    for (const ds of Object.values(sources)) if (ds?.isInitialized) await ds.destroy();
  });

  it('are partial, the same whether the migrations or synchronize made them', async () => {
    const made: Array<Record<string, string>> = [];
    for (const ds of [sources.migrations!, sources.synchronize!]) {
      const runner = ds.createQueryRunner();
      try {
        made.push(await predicates(kind, runner));
      } finally {
        await runner.release();
      }
    }
    const [byMigrations, bySynchronize] = made;
    expect(bySynchronize).toEqual(byMigrations);
    for (const name of ['idx_task_queue_claim', 'idx_task_queue_lease', 'idx_task_queue_finished']) expect(byMigrations[name]).toMatch(/status/);
    expect(byMigrations.idx_task_queue_claim).toMatch(/pending/);
    expect(byMigrations.idx_task_queue_claim).toMatch(/waiting/);
    expect(byMigrations.idx_task_queue_lease).toMatch(/running/);
    expect(byMigrations.idx_task_queue_finished).toMatch(/succeeded/);
    expect(byMigrations.idx_task_queue_seq).toBe('');
  });

  it.each(['migrations', 'synchronize'] as const)('serve every claim, sweep and count (schema by %s)', async (by) => {
    const ds = sources[by]!;
    const runner = ds.createQueryRunner();
    try {
      // PostgreSQL reads a near-empty table sequentially whatever its indexes: priced out, a plan still scans it only when no index can serve
      if (kind === 'postgres') await runner.query('SET enable_seqscan = off');
      const unserved: string[] = [];
      for (const [what, statement, indexes] of statements(new Sql(ds, kind))) {
        const lines = (await plan(kind, runner, statement)).join('\n');
        const scans = kind === 'sqlite' ? /SCAN task_queue(?! USING)/.test(lines) : /Seq Scan on task_queue/.test(lines);
        const missing = indexes.filter((index) => !lines.includes(index));
        if (scans || missing.length) unserved.push(`${what}: ${missing.length ? `not through ${missing.join(', ')}` : 'reads the whole table'}\n${lines}`);
      }
      expect(unserved).toEqual([]);
    } finally {
      if (kind === 'postgres') await runner.query('RESET enable_seqscan');
      await runner.release();
    }
  });
});
