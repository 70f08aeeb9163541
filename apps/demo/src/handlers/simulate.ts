import type { TaskContext, TaskQueue } from 'nestjs-queue-scheduler';

/** Per-task status keys outlive the task by an hour, then expire so a long-running demo does not grow the store forever. */
export const STATUS_TTL_SECONDS = 3600;

export const statusKey = (taskId: string): string => `task_${taskId}_status`;

export interface TaskProgress {
  state: 'downloading' | 'converting' | 'done' | 'failed' | 'aborted';
  progress: number;
  attempt: number;
  detail?: string;
}

/** Resolves after `ms`, or rejects at once when `signal` aborts (timeout or shutdown), so no work outlives its task. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Stands in for real I/O: `steps` slices of `totalMs`, publishing progress
 * to the public store after each, where any producer (or the REST API) can
 * read it by task id.
 */
export async function simulateWork(
  queue: TaskQueue,
  ctx: TaskContext,
  state: 'downloading' | 'converting',
  totalMs: number,
  steps = 5,
): Promise<void> {
  for (let step = 0; step < steps; step++) {
    await queue.setPublic(statusKey(ctx.taskId), progress(ctx, state, Math.round((step / steps) * 100)), STATUS_TTL_SECONDS);
    await pause(totalMs / steps, ctx.signal);
  }
}

/** Records how a try ended, so the status key never stays at "downloading 60%" after a failure. */
export async function publishOutcome(queue: TaskQueue, ctx: TaskContext, err?: unknown, detail?: string): Promise<void> {
  const state = err === undefined ? 'done' : ctx.signal.aborted ? 'aborted' : 'failed';
  const text = err === undefined ? detail : (err as Error)?.message ?? String(err);
  await queue.setPublic(statusKey(ctx.taskId), progress(ctx, state, err === undefined ? 100 : -1, text), STATUS_TTL_SECONDS);
}

function progress(ctx: TaskContext, state: TaskProgress['state'], pct: number, detail?: string): TaskProgress {
  return { state, progress: pct, attempt: ctx.attempt, ...(detail ? { detail } : {}) };
}

/** A duration from params, clamped so a typo cannot park a worker for hours. */
export function simulatedMs(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.min(Math.max(0, value), 60_000) : fallback;
}
