import { hostname } from 'node:os';
import type { TaskRecord, TaskTry, TaskTryOutcome } from '../interfaces/task.interface';
import { storableText } from './json-value';

/** Longest stack kept per try: deep async stacks repeat themselves, and 20 of them sit in one row. @publicApi */
export const MAX_ERROR_STACK_CHARS = 8192;
/** Ended tries kept per task: a task retried for days keeps its latest ones. @publicApi */
export const MAX_TRIES_KEPT = 20;
const CUT = '\n… (stack cut at MAX_ERROR_STACK_CHARS)';

/** This process, as the instance names of every backend begin. */
export const processName = `${hostname().slice(0, 40)}:${process.pid}`;

/** A try as the backends store it (JSON on the durable ones): times as epoch ms. */
export interface StoredTry {
  attempt: number;
  startedAt: number | null;
  finishedAt: number | null;
  outcome: TaskTryOutcome;
  error?: string | null;
  stack?: string | null;
  instance?: string | null;
}

/** A failure's stack, bounded and storable as text (a NUL, which PostgreSQL refuses, replaced). */
export function stackOf(error: Error): string {
  const stack = typeof error.stack === 'string' && error.stack ? error.stack : `${error.name}: ${error.message}`;
  if (stack.length <= MAX_ERROR_STACK_CHARS) return storableText(stack, MAX_ERROR_STACK_CHARS);
  return storableText(stack.slice(0, MAX_ERROR_STACK_CHARS - CUT.length), MAX_ERROR_STACK_CHARS) + CUT;
}

/**
 * How a failed try ended, read from its stack's first line (the error's
 * name): a dead task's last try is read back from the stored stack alone,
 * with no outcome column beside it.
 */
export function failureOutcome(stack: string | null | undefined): TaskTryOutcome {
  if (stack?.startsWith('TaskTimeoutError')) return 'timed_out';
  if (stack?.startsWith('TaskLostError')) return 'lost';
  return 'failed';
}

/** `kept` with `next` at the end, the oldest dropped past MAX_TRIES_KEPT. */
export function appendTry(kept: readonly StoredTry[] | undefined, next: StoredTry): StoredTry[] {
  const tries = kept ? kept.slice(Math.max(0, kept.length - MAX_TRIES_KEPT + 1)) : [];
  tries.push(next);
  return tries;
}

/** The stored tries, lenient about what a driver or an older row gives back (a JSON string, nulls). */
export function storedTries(value: unknown): StoredTry[] | undefined {
  const parsed = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  return Array.isArray(parsed) && parsed.length ? (parsed as StoredTry[]) : undefined;
}

/** Statuses whose record holds a try of its own: running, or ended by it (a pending or failed task's last try, if any, is stored). */
const OWN_TRY: ReadonlySet<string> = new Set(['running', 'succeeded', 'dead', 'cancelled']);
const date = (ms: number | string | null | undefined): Date | undefined => (ms === null || ms === undefined ? undefined : new Date(Number(ms)));
const text = (v: string | null | undefined): string | undefined => (v === null || v === undefined ? undefined : v);

/**
 * A record's timeline: the stored tries (those that failed, timed out or were
 * lost and were followed by another), then the current or final try, which is
 * never stored but read from the record: a first try that succeeds writes no
 * history. The record's try is already stored when its start is the last
 * stored one's (a task cancelled while it waited for its retry).
 */
export function triesOf(record: TaskRecord, stored: readonly StoredTry[] | undefined, runningOn?: string): TaskTry[] {
  const tries: TaskTry[] = (stored ?? []).map((t) => ({
    attempt: Number(t.attempt),
    startedAt: date(t.startedAt),
    finishedAt: date(t.finishedAt),
    outcome: t.outcome,
    error: text(t.error),
    errorStack: text(t.stack),
    instance: text(t.instance),
  }));
  const started = record.startedAt?.getTime();
  const last = stored?.at(-1);
  if (started === undefined || record.attempts < 1 || !OWN_TRY.has(record.status)) return tries;
  // the current try stored already (a failed try waiting for its retry); a try after a manual retry can start in the
  // same ms as the stored one (the memory backend), with the same attempt number: its outcome tells them apart
  const lastIsCurrent = last !== undefined && last.startedAt !== null && Number(last.startedAt) === started && Number(last.attempt) === record.attempts;
  // A dead task's last try is stored only once retryTask runs it again: one that ran and died in the ms of the try
  // before it, after a retry by hand, matched that one on all three and was left out
  if (lastIsCurrent && record.status !== 'dead' && last.outcome === currentOutcome(record)) return tries;
  // cancelled while it waited for its retry: the cancel ended no try, the last one stored is the task's last
  if (lastIsCurrent && record.status === 'cancelled') return tries;
  const outcome = currentOutcome(record);
  // dead of TaskLostError: the claim that found it lost too often ran no handler, so it is no try of its own;
  // the stored lost tries are the ones the error counts
  if (record.status === 'dead' && outcome === 'lost' && last?.outcome === 'lost') return tries;
  const current: TaskTry = { attempt: record.attempts, startedAt: record.startedAt, finishedAt: record.completedAt, outcome };
  if (record.status === 'dead') {
    current.error = record.error;
    current.errorStack = record.errorStack;
  }
  if (record.status === 'running' && runningOn !== undefined) current.instance = runningOn;
  tries.push(current);
  return tries;
}

function currentOutcome(record: TaskRecord): TaskTryOutcome {
  if (record.status === 'running' || record.status === 'succeeded' || record.status === 'cancelled') return record.status;
  return failureOutcome(record.errorStack);
}
