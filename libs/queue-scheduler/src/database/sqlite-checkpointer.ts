import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit, Optional } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { Worker } from 'node:worker_threads';
import type { ResolvedOptions } from '../interfaces/options.interface';
import { RESOLVED_OPTIONS, SCHEDULER_DATA_SOURCE } from '../queue-scheduler.constants';
import { LibraryLogger } from '../queue-scheduler.logger';
import { CHECKPOINT_WORKER_SOURCE, type CheckpointWorkerData } from './sqlite-checkpoint-worker';

/** The part of a better-sqlite3 `Database` this file uses. */
interface SqliteHandle {
  readonly name: string;
  readonly memory: boolean;
  readonly open: boolean;
  readonly readonly: boolean;
  pragma(source: string, options?: { simple: boolean }): unknown;
}

/**
 * Often enough that the WAL between two checkpoints stays around the size
 * SQLite's own default (1000 pages) lets it reach at a few thousand commits a
 * second, rarely enough that a thread looking at an unchanged WAL (a read of
 * its index header) costs nothing to speak of. The app's commits are not
 * seen from here (its own statements write too), so it is a timer, not a signal.
 */
export const CHECKPOINT_INTERVAL_MS = 200;
/** Frames, as a multiple of the connection's own wal_autocheckpoint, past which the thread insists on a complete checkpoint. */
const RESTART_FACTOR = 4;
/**
 * A RESTART holds new writers off while it waits for the app's writer and
 * readers, and a writer waits on the event loop's thread: its wait is bounded
 * by this. Too short to wait for a long reader; the next round tries again.
 */
const RESTART_BUSY_TIMEOUT_MS = 20;

/**
 * Runs SQLite's WAL checkpoints in a worker thread with its own connection
 * instead of inside the app's commits. better-sqlite3 runs every statement
 * on the event loop's thread, and with `wal_autocheckpoint` (every 1000 WAL
 * pages by default) the commit that crosses it also copies the WAL into the
 * database file: 6 to 30 ms of a held loop every few seconds for a scheduler
 * claiming 1,000 or 10,000 schedules a second. While the thread runs, the
 * app's connection has `wal_autocheckpoint = 0`; its previous value comes
 * back on shutdown and whenever the thread stops on its own.
 */
@Injectable()
export class SqliteCheckpointer implements OnModuleInit, OnModuleDestroy {
  private readonly logger: LibraryLogger;
  private worker?: Worker;
  private restore?: { db: SqliteHandle; autocheckpoint: number };

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    @Optional() @Inject(SCHEDULER_DATA_SOURCE) private readonly dataSource?: DataSource,
  ) {
    this.logger = new LibraryLogger(SqliteCheckpointer.name, options.logLevel);
  }

  /** The checkpoint thread while it runs (tests and diagnostics). */
  get thread(): Worker | undefined {
    return this.worker;
  }

  onModuleInit(): void {
    if (this.options.sqlite.checkpoints !== 'background') return;
    const db = this.walFileConnection();
    if (!db) return;
    const autocheckpoint = Number(db.pragma('wal_autocheckpoint', { simple: true }));
    // 0: the app has turned automatic checkpoints off and runs its own; leave them to it
    if (!(autocheckpoint > 0)) return;
    const driverPath = this.driverPath();
    if (!driverPath) {
      this.logger.warn(`SQLite checkpoints stay in the app's commits for ${db.name}: better-sqlite3 could not be resolved for a worker thread`);
      return;
    }
    const binding = (this.dataSource!.options as { nativeBinding?: unknown }).nativeBinding;
    const workerData: CheckpointWorkerData = {
      driverPath,
      nativeBinding: typeof binding === 'string' ? binding : undefined,
      file: db.name,
      intervalMs: CHECKPOINT_INTERVAL_MS,
      restartFrames: autocheckpoint * RESTART_FACTOR,
      busyTimeoutMs: RESTART_BUSY_TIMEOUT_MS,
      // busy_timeout 0: a commit of the app that met the thread's write would fail with SQLITE_BUSY instead of waiting for it
      startOver: Number(db.pragma('busy_timeout', { simple: true })) > 0,
    };
    const worker = new Worker(CHECKPOINT_WORKER_SOURCE, { eval: true, workerData });
    // a checkpoint thread is no reason for the process to stay up
    worker.unref();
    this.worker = worker;
    this.restore = { db, autocheckpoint };
    db.pragma('wal_autocheckpoint = 0');
    let failure: unknown;
    worker.on('error', (err) => (failure = err));
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.giveBack();
      const why = failure instanceof Error ? failure.message : `exit code ${code}`;
      this.logger.warn(`SQLite checkpoint thread for ${db.name} stopped (${why}): wal_autocheckpoint is back to ${autocheckpoint} on the app's connection, so its commits checkpoint again`);
    });
  }

  async onModuleDestroy(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    // first, so the app's remaining commits (the shutdown drain) keep the WAL in bounds whatever the thread does
    this.giveBack();
    await worker.terminate();
  }

  private giveBack(): void {
    const restore = this.restore;
    this.restore = undefined;
    if (restore?.db.open) restore.db.pragma(`wal_autocheckpoint = ${restore.autocheckpoint}`);
  }

  /** The app's better-sqlite3 connection when it is a WAL database in a file, the only case with checkpoints to move. */
  private walFileConnection(): SqliteHandle | undefined {
    const ds = this.dataSource;
    if (!ds?.isInitialized || ds.options.type !== 'better-sqlite3') return undefined;
    const db = (ds.driver as unknown as { databaseConnection?: SqliteHandle }).databaseConnection;
    if (!db?.open || db.memory || db.readonly || !db.name) return undefined;
    const mode = String(db.pragma('journal_mode', { simple: true })).toLowerCase();
    return mode === 'wal' ? db : undefined;
  }

  /**
   * The file of the better-sqlite3 copy TypeORM loaded (found in require's
   * cache by its exports), else the one this library resolves.
   */
  private driverPath(): string | undefined {
    const loaded = (this.dataSource!.driver as unknown as { sqlite?: unknown }).sqlite;
    const cached = Object.values(require.cache ?? {}).find((m) => m?.exports === loaded && loaded !== undefined);
    if (cached) return cached.filename;
    try {
      return require.resolve('better-sqlite3');
    } catch {
      return undefined;
    }
  }
}
