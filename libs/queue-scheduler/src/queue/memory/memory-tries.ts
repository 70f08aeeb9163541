import type { TaskRecord } from '../../interfaces/task.interface';
import { appendTry, failureOutcome, processName, stackOf, type StoredTry, triesOf } from '../task-tries';
import { type Failures, type MemoryEntry, toRecord } from './memory-entries';

/** A try of `entry` failed; `retried`: another follows, so this one joins the stored tries. */
export function recordFailure(entry: MemoryEntry, error: Error, retried: boolean, finishedAt: number): void {
  const stack = stackOf(error);
  entry.error = error.message;
  const failures = (entry.failures ??= { stack: undefined, tries: undefined });
  failures.stack = stack;
  if (retried) failures.tries = appendTry(failures.tries, tryOf(entry, finishedAt, stack));
  failures.finalUnstored = !retried;
}

/** `retryTask` of a dead task: its last try, read from the entry until now, is stored before the count starts again. */
export function recordRetried(entry: MemoryEntry): void {
  const failures = entry.failures;
  if (failures === undefined) return;
  // a failed task waiting for its retry has its last try stored already. Told apart by a flag, not by start time:
  // a try that ran and died again in the millisecond of the one before it read as stored, and was lost
  if (entry.status === 'dead' && !Number.isNaN(entry.startedAtMs) && failures.finalUnstored) {
    failures.tries = appendTry(failures.tries, tryOf(entry, entry.completedAtMs, failures.stack));
    failures.finalUnstored = false;
  }
  // the error is cleared with it
  failures.stack = undefined;
}

/** The status API's record of `entry`, with its tries. */
export function recordWithTries(entry: MemoryEntry): TaskRecord {
  const record = toRecord(entry);
  record.tries = triesOf(record, entry.failures?.tries, processName);
  return record;
}

function tryOf(entry: MemoryEntry, finishedAt: number, stack: string | undefined): StoredTry {
  return {
    attempt: entry.attempts,
    startedAt: Number.isNaN(entry.startedAtMs) ? null : entry.startedAtMs,
    finishedAt: Number.isNaN(finishedAt) ? null : finishedAt,
    outcome: failureOutcome(stack),
    error: entry.error,
    stack,
    instance: processName,
  };
}
