import type { ScheduleEvent } from '../interfaces/schedule.interface';
import type { LibraryLogger } from '../queue-scheduler.logger';
import type { ClaimPlan } from './overlap';

/** Logs and reports the occurrences an overlap policy gave up: never silently, they are not runs. */
export function reportOverlap(
  logger: LibraryLogger,
  emit: (event: ScheduleEvent) => void,
  row: { taskId: string; name: string; taskType: string },
  plan: ClaimPlan,
  now: number,
): void {
  const about = { scheduleId: row.taskId, name: row.name, taskType: row.taskType };
  const skipped = plan.skipped ?? [];
  if (skipped.length) {
    const times = skipped.slice(0, 5).map((d) => d.toISOString()).join(', ') + (skipped.length > 5 ? `, … (${skipped.length} in all)` : '');
    const why = plan.fire.length ? 'they fell due together with the one started' : 'the previous run is still pending or running';
    logger.log(`schedule ${row.taskId} '${row.name}' (${row.taskType}): occurrence(s) ${times} skipped (overlap skip): ${why}`);
    emit({ kind: 'skipped', ...about, overlap: 'skip', skipped: skipped.length, scheduledAt: skipped, at: new Date(now) });
  }
  if (plan.coalesced) {
    const into = plan.fire[0]?.toISOString() ?? 'none';
    logger.log(`schedule ${row.taskId} '${row.name}' (${row.taskType}): ${plan.coalesced} more occurrence(s) due while waiting for the previous run folded into the run of ${into} (overlap wait)`);
    emit({ kind: 'skipped', ...about, overlap: 'wait', skipped: plan.coalesced, scheduledAt: [], at: new Date(now) });
  }
}
