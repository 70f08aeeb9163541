import type { Task } from '../../interfaces/task.interface';

/**
 * Fetches in flight at once after a claim's first: BullMQ moves one job per
 * call (a script each), and a call per free slot made a claim of a queue with
 * a few jobs cost `workers.concurrency` scripts (5,000 slots: ~10 tasks/s).
 */
export const FETCH_WAVE = 100;

/**
 * Takes up to `room` jobs into `into`, FETCH_WAVE calls at a time, and stops
 * after a wave that came back short: the queue ran out in it. Every call of
 * a wave is waited for, as each may have leased a job; the first failure is
 * thrown once they all have.
 */
export async function takeInWaves(room: number, take: () => Promise<Task | undefined>, into: Task[]): Promise<void> {
  for (let left = room; left > 0; ) {
    const wave = Math.min(left, FETCH_WAVE);
    const results = await Promise.allSettled(Array.from({ length: wave }, take));
    let got = 0;
    for (const r of results) if (r.status === 'fulfilled' && r.value) (into.push(r.value), got++);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (got < wave) return;
    left -= wave;
  }
}
