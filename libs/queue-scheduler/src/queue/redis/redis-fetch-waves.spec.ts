import type { Task } from '../../interfaces/task.interface';
import { FETCH_WAVE, takeInWaves } from './redis-fetch-waves';

/** A queue of `jobs` jobs behind `take`, counting the calls and the most in flight at once. */
function queueOf(jobs: number, failAt?: number) {
  const seen = { calls: 0, inFlight: 0, most: 0 };
  let left = jobs;
  const take = async (): Promise<Task | undefined> => {
    const call = ++seen.calls;
    seen.most = Math.max(seen.most, ++seen.inFlight);
    await new Promise((resolve) => setImmediate(resolve));
    seen.inFlight--;
    if (call === failAt) throw new Error('redis away');
    return left-- > 0 ? ({ taskId: `t${call}` } as Task) : undefined;
  };
  return { take, seen };
}

describe('takeInWaves (a claim of the redis backend after its first job)', () => {
  it('a queue with a few jobs costs one wave of calls, not one per free slot', async () => {
    const { take, seen } = queueOf(3);
    const into: Task[] = [];
    await takeInWaves(4999, take, into);
    expect(into).toHaveLength(3);
    expect(seen.calls).toBe(FETCH_WAVE);
    expect(seen.most).toBe(FETCH_WAVE);
  });

  it('a backlog fills every free slot, FETCH_WAVE calls at a time', async () => {
    const { take, seen } = queueOf(10_000);
    const into: Task[] = [];
    await takeInWaves(450, take, into);
    expect(into).toHaveLength(450);
    expect(seen.calls).toBe(450);
    expect(seen.most).toBe(FETCH_WAVE);
  });

  it('stops after the wave in which the queue ran out', async () => {
    const { take, seen } = queueOf(250);
    const into: Task[] = [];
    await takeInWaves(1000, take, into);
    expect(into).toHaveLength(250);
    expect(seen.calls).toBe(3 * FETCH_WAVE);
  });

  it('keeps what a failing wave took, then throws its failure', async () => {
    const { take } = queueOf(10_000, 150);
    const into: Task[] = [];
    await expect(takeInWaves(1000, take, into)).rejects.toThrow('redis away');
    expect(into).toHaveLength(2 * FETCH_WAVE - 1);
  });
});
