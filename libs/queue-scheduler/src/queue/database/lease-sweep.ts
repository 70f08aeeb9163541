import type { Sql } from '../../database/sql';
import type { ResolvedOptions } from '../../interfaces/options.interface';
import type { LibraryLogger } from '../../queue-scheduler.logger';
import { retentionMs } from '../../queue-scheduler.options';
import { pruneEvents } from './event-log';
import { anyExpired, anyFinishedBefore, purgeFinished, reclaimExpired } from './statements/leases';

/**
 * One pass of the database backend's sweep: queues again the tasks whose
 * lease ran out (their worker died or stalled), purges finished rows past
 * `queue.retentionDays` and prunes old cluster events. A range UPDATE or
 * DELETE runs only once a plain read has found a row for it (see anyExpired).
 */
export async function sweepOnce(sql: Sql, options: ResolvedOptions, logger: LibraryLogger, now: number): Promise<{ reclaimed: number; purged: number }> {
  const expired = anyExpired(now);
  const reclaim = reclaimExpired(sql, now);
  const reclaimed = (await sql.exists(expired.text, expired.params)) ? await sql.rangeAffected(reclaim.text, reclaim.params) : 0;
  if (reclaimed > 0) logger.warn(`${reclaimed} task(s) whose worker stopped renewing its lease were queued again (a lost try; a task lost more than queue.maxLostTries times is dead)`);
  const keep = retentionMs(options.queue.retentionDays);
  const before = now - keep;
  const past = anyFinishedBefore(before);
  const purge = purgeFinished(sql, before);
  // a cutoff before 1970 (a retention longer than the app's clock) has nothing to find
  const purged = keep > 0 && before > 0 && (await sql.exists(past.text, past.params)) ? await sql.rangeAffected(purge.text, purge.params) : 0;
  if (options.queue.clusterEvents) await pruneEvents(sql, now - options.queue.clusterEventsRetentionMs);
  return { reclaimed, purged };
}
