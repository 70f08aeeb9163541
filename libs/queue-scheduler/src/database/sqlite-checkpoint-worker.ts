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
  /** Whether the thread may start the WAL over with a write of its own: not when the app's commits fail rather than wait for a lock. */
  startOver: boolean;
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
 *
 * When a PASSIVE has copied every frame, the commit that starts the WAL over
 * writes its header and syncs it (SQLite's guard against a reordered write
 * after a restart, whatever \`synchronous\` says). Left to the app, that fsync
 * lands on the event loop's thread in the first commit of every burst after
 * a quiet spell (0.7 to 1 ms a burst on the benchmark's disk, more on slow
 * ones): the thread makes that commit itself, rewriting \`user_version\` with
 * its own value inside one write transaction (a write of page 1 that changes
 * nothing), and the app's next commit appends to the WAL it started. It then
 * leaves the file alone until another connection commits (\`data_version\`),
 * so an idle app costs a read of a counter per round, not a write; and it
 * does not start over a WAL of one frame, which another process's thread wrote.
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
let quietAt;
const startOver = db.transaction(() => db.pragma('user_version = ' + Number(db.pragma('user_version', { simple: true }))));
setInterval(() => {
  if (quietAt !== undefined && db.pragma('data_version', { simple: true }) === quietAt) return;
  quietAt = undefined;
  const passive = db.pragma('wal_checkpoint(PASSIVE)')[0];
  if (passive.busy !== 0) return;
  // an idle app leaves the WAL long until its next commit: one RESTART is enough for that
  if (passive.log >= workerData.restartFrames && passive.log !== restartedAt) {
    restartedAt = passive.log;
    db.pragma('wal_checkpoint(RESTART)');
    return;
  }
  // one frame is most likely another process's thread having started the WAL over: doing it again would
  // have the two threads take turns writing to an idle file for as long as both run
  if (!workerData.startOver || passive.log < 2 || passive.checkpointed !== passive.log) return;
  try {
    startOver.immediate();
    quietAt = db.pragma('data_version', { simple: true });
  } catch (err) {
    // the app holds the write lock (its commit starts the WAL over, or appends): next round
    if (!String(err && err.code).startsWith('SQLITE_BUSY')) throw err;
  }
}, workerData.intervalMs);
`;
