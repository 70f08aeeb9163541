/** What the checkpoint thread is given (plain data: it crosses to the thread by structured clone). */
export interface CheckpointWorkerData {
  /** better-sqlite3's entry file, resolved in the main thread: the thread has no module paths of its own to search. */
  driverPath: string;
  /** The app's `nativeBinding` option, when it named a file, so the thread loads the same addon. */
  nativeBinding?: string;
  /** The database file (better-sqlite3's `db.name`). */
  file: string;
  /** How often a PASSIVE checkpoint runs. */
  intervalMs: number;
  /** WAL frames past which the thread waits for a complete checkpoint (RESTART) rather than only a PASSIVE one. */
  restartFrames: number;
  /** How long the RESTART may wait for the app's writer and readers. */
  busyTimeoutMs: number;
}

/**
 * The checkpoint thread, as source for `new Worker(..., { eval: true })`: an
 * inline script resolves no file, so it runs the same from the TypeScript
 * sources under Jest or ts-node and from the packed library's dist.
 *
 * A PASSIVE checkpoint copies what no reader still needs and never waits,
 * so the app's commits are not held up. But SQLite starts the WAL over from
 * its beginning only when a writer begins while every frame is copied, and
 * a PASSIVE copies the frames there were when it began: an app that commits
 * while each one runs is always a few frames ahead, and the file grows
 * without end. Once the WAL holds `restartFrames` frames (it has not started
 * over for that long) and has grown since the last try, the thread follows
 * the PASSIVE with a RESTART, which holds new writers off (they wait in
 * their busy handler) while it copies the few frames the PASSIVE left.
 * A thrown error ends the thread: the main thread sees it exit and hands
 * checkpoints back to the app's connection. The main thread ends it with
 * `terminate()`; better-sqlite3 closes the thread's connection as it goes.
 */
export const CHECKPOINT_WORKER_SOURCE = `
'use strict';
const { workerData } = require('node:worker_threads');
const Database = require(workerData.driverPath);
const options = { fileMustExist: true, timeout: workerData.busyTimeoutMs };
if (workerData.nativeBinding) options.nativeBinding = workerData.nativeBinding;
const db = new Database(workerData.file, options);
let restartedAt = -1;
setInterval(() => {
  const passive = db.pragma('wal_checkpoint(PASSIVE)')[0];
  if (passive.busy !== 0 || passive.log < workerData.restartFrames || passive.log === restartedAt) return;
  // an idle app leaves the WAL long until its next commit: one RESTART is enough for that
  restartedAt = passive.log;
  db.pragma('wal_checkpoint(RESTART)');
}, workerData.intervalMs);
`;
