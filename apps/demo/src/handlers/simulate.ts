import type { TaskContext } from 'nestjs-queue-scheduler';

/** What the demo's handlers report with `ctx.progress()`: the task's record carries the last one (`GET /api/tasks/:id`). */
export interface DemoProgress {
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
 * Stands in for real I/O: `steps` slices of `totalMs`, reporting progress
 * after each with `ctx.progress()`; the library stores it on the task, where
 * any producer (or the REST API) reads it by task id.
 */
export async function simulateWork(ctx: TaskContext, state: 'downloading' | 'converting', totalMs: number, steps = 5): Promise<void> {
  for (let step = 0; step < steps; step++) {
    ctx.progress(progress(ctx, state, Math.round((step / steps) * 100)));
    await pause(totalMs / steps, ctx.signal);
  }
}

/** Reports how a try ended, so the task's progress never stays at "downloading 60%" after a failure. */
export function publishOutcome(ctx: TaskContext, err?: unknown, detail?: string): void {
  const state = err === undefined ? 'done' : ctx.signal.aborted ? 'aborted' : 'failed';
  const text = err === undefined ? detail : ((err as Error)?.message ?? String(err));
  ctx.progress(progress(ctx, state, err === undefined ? 100 : -1, text));
}

function progress(ctx: TaskContext, state: DemoProgress['state'], pct: number, detail?: string): DemoProgress {
  // the detail is an error message or a path: cut, so a long one cannot push the report past the library's size cap
  return { state, progress: pct, attempt: ctx.attempt, ...(detail ? { detail: detail.slice(0, 500) } : {}) };
}

/** A duration from params, clamped so a typo cannot park a worker for hours. */
export function simulatedMs(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.min(Math.max(0, value), 60_000) : fallback;
}
