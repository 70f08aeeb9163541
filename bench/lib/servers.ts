import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type DatabaseKind, MARIADB, POSTGRES, type TestDatabase } from '../../test/support/databases';

export { createTestDatabase, type DatabaseKind, type TestDatabase };

/** BullMQ on the local Redis; every run uses its own key prefix and removes it after. */
export const REDIS: { host: string; port: number; maxRetriesPerRequest: null } = { host: process.env.REDIS_HOST ?? '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379), maxRetriesPerRequest: null };

export const uniqueName = (what: string): string => `bench_${what}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

/** The settings that decide what a commit costs on each server, recorded beside the figures. */
export async function durability(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const mysql = await import('mysql2/promise');
  const m = await mysql.createConnection({ ...MARIADB });
  const [rows] = await m.query('SELECT VERSION() AS version, @@innodb_flush_log_at_trx_commit AS flush_log_at_trx_commit, @@sync_binlog AS sync_binlog, @@log_bin AS log_bin, @@innodb_doublewrite AS doublewrite');
  out.mariadb = (rows as unknown[])[0];
  await m.end();
  const { Client } = await import('pg');
  const p = new Client({ ...POSTGRES, database: 'test' });
  await p.connect();
  const pg: Record<string, string> = {};
  for (const name of ['server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes']) {
    pg[name] = ((await p.query(`SHOW ${name}`)).rows[0] as Record<string, string>)[name];
  }
  out.postgres = pg;
  await p.end();
  const { default: Redis } = await import('ioredis');
  const r = new Redis({ host: REDIS.host, port: REDIS.port, lazyConnect: true });
  await r.connect();
  const redis: Record<string, string> = {};
  for (const key of ['appendonly', 'appendfsync', 'save']) {
    const [, value] = (await r.config('GET', key)) as [string, string];
    redis[key] = value;
  }
  redis.version = /redis_version:(\S+)/.exec(await r.info('server'))?.[1] ?? 'n/a';
  out.redis = redis;
  r.disconnect();
  // enableWAL switches a new file to WAL on the connection that creates it, which keeps synchronous=FULL; a connection
  // that opens a file already in WAL (each worker process) gets this build's WAL default, read here the same way
  type Probe = { pragma(name: string, o?: { simple: true }): unknown; close(): void };
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- better-sqlite3 ships no types and we add no @types package
  const Database = require('better-sqlite3') as new (file: string) => Probe;
  const file = join(tmpdir(), `${uniqueName('durability')}.sqlite`);
  const creator = new Database(file);
  const defaults = { journal_mode: creator.pragma('journal_mode', { simple: true }), synchronous: creator.pragma('synchronous', { simple: true }) };
  creator.pragma('journal_mode = WAL');
  creator.close();
  const worker = new Database(file);
  const wal = { journal_mode: worker.pragma('journal_mode', { simple: true }), synchronous: worker.pragma('synchronous', { simple: true }) };
  worker.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
  out.sqlite = {
    measured: { ...wal, how: "TypeORM enableWAL: true (the README's recommendation); synchronous 1 = NORMAL: a commit does not wait for fsync, the WAL is synced at checkpoints" },
    reference: { ...defaults, how: "TypeORM's defaults (no enableWAL), one drain only; synchronous 2 = FULL: every commit is fsynced" },
  };
  return out;
}
