import type { Clock } from '../clock';
import { resolveOptions } from '../queue-scheduler.options';
import { MemoryQueueService } from '../queue/memory/memory-queue.service';
import type { ClaimFilter } from '../queue/queue-consumer';
import { TaskNotFoundError } from '../errors/errors';
import type { TaskQueue } from '../queue/task-queue';
import { type AheadState, cancelAhead, occurrenceTaskId, PUSH_WAIT_MS } from './ahead-occurrences';
import { HeldOccurrences } from './held-occurrences';
import type { DueSchedule } from './schedule-claims';

const T = Date.parse('2026-04-01T10:00:00.000Z');
const clock: Clock & { t: number } = { t: T, now: () => clock.t, manual: true };
const anyType: ClaimFilter = { types: [], unknownTypes: true, handled: new Set() };

function queueWith(scheduleId: string, times: number[]): MemoryQueueService {
  const queue = new MemoryQueueService(resolveOptions({ logLevel: 'fatal' }), clock);
  for (const at of times) queue.pushTask({ taskId: occurrenceTaskId(scheduleId, new Date(at)), type: 't', delayMs: at - clock.now(), schedulerTaskId: scheduleId, scheduledAt: new Date(at) });
  return queue;
}

function state(over: Partial<AheadState>): AheadState {
  return { taskId: 's', scheduleType: 'interval', intervalSeconds: 1, lastRunAt: null, nextRunAt: null, runCount: 0, maxRuns: 0, enabled: true, ...over };
}

describe('cancelAhead', () => {
  beforeEach(() => (clock.t = T));

  it('cancels the occurrences queued ahead and gives them back to the row', async () => {
    // claimed through T+3s, of which T+1s .. T+3s are still ahead
    const queue = queueWith('s', [T + 1000, T + 2000, T + 3000]);
    const row = state({ lastRunAt: new Date(T + 3000), nextRunAt: new Date(T + 4000), runCount: 5 });
    const back = await cancelAhead(queue, row, T, new Set());
    expect(back).toEqual({ nextRunAt: new Date(T + 1000), lastRunAt: new Date(T), runCount: 2, enabled: true });
    expect(queue.countByStatus()).toMatchObject({ pending: 0, cancelled: 3 });
  });

  it('stops at the first it cannot cancel, so what is given back is the latest claimed', async () => {
    const queue = queueWith('s', [T + 1000, T + 2000]);
    clock.t = T + 1000;
    expect(queue.claim(anyType, 1).map((t) => t.taskId)).toEqual([occurrenceTaskId('s', new Date(T + 1000))]);
    const row = state({ lastRunAt: new Date(T + 2000), nextRunAt: new Date(T + 3000), runCount: 2 });
    // as seen from an instance whose clock is behind: T+1s has started all the same
    const back = await cancelAhead(queue, row, T + 500, new Set());
    expect(back).toEqual({ nextRunAt: new Date(T + 2000), lastRunAt: new Date(T + 1000), runCount: 1, enabled: true });
  });

  it('reads the clock at each occurrence: one that came due while the newer ones were cancelled is left to run', async () => {
    const queue = queueWith('s', [T + 1000, T + 2000, T + 3000]);
    const row = state({ lastRunAt: new Date(T + 3000), nextRunAt: new Date(T + 4000), runCount: 3 });
    // each cancel takes 600 ms of the clock: by the time the walk reaches T+1s it is due (a flow's children started)
    const cancel = async (id: string): Promise<boolean> => {
      clock.t += 600;
      return queue.cancelTask(id, { running: false });
    };
    const back = await cancelAhead(queue, row, T, new Set(), { cancel, clock: () => clock.t });
    expect(back).toEqual({ nextRunAt: new Date(T + 2000), lastRunAt: new Date(T + 1000), runCount: 1, enabled: true });
    expect((await queue.getTask(occurrenceTaskId('s', new Date(T + 1000)))).status).toBe('pending');
  });

  it('gives nothing back when nothing is ahead, or when another instance holds it', async () => {
    const queue = queueWith('other', []);
    expect(await cancelAhead(queue, state({ lastRunAt: new Date(T - 1000), runCount: 1 }), T, new Set())).toBeNull();
    expect(await cancelAhead(queue, state({ lastRunAt: new Date(T + 1000), runCount: 1 }), T, new Set())).toBeNull();
  });

  it('a once whose run was claimed ahead is enabled again with its time as the next run', async () => {
    const queue = queueWith('s', [T + 700]);
    const row = state({ scheduleType: 'once', executeAt: new Date(T + 700), lastRunAt: new Date(T + 700), nextRunAt: null, runCount: 1, enabled: false });
    expect(await cancelAhead(queue, row, T, new Set())).toEqual({ nextRunAt: new Date(T + 700), lastRunAt: null, runCount: 0, enabled: true });
  });

  it('counts what an earlier try of the same change cancelled', async () => {
    const queue = queueWith('s', [T + 1000, T + 2000]);
    const cancelled = new Set<number>();
    await cancelAhead(queue, state({ lastRunAt: new Date(T + 1000), runCount: 3 }), T, cancelled);
    // the loop claimed T+2s meanwhile, so the write failed; the next try sees both
    const back = await cancelAhead(queue, state({ lastRunAt: new Date(T + 2000), runCount: 4 }), T, cancelled);
    expect(back).toEqual({ nextRunAt: new Date(T + 1000), lastRunAt: new Date(T), runCount: 2, enabled: true });
  });

  it('counts what an earlier try cancelled even once its time has come before the retry', async () => {
    // from an audit (redis): the first try cancelled T+1s, the write lost to a claim, and the retry ran at T+1.5s;
    // the walk stopped at T+1s (no longer ahead), so it was neither run nor given back, and run_count kept it
    const queue = queueWith('s', [T + 1000, T + 2000]);
    const cancelled = new Set<number>();
    await cancelAhead(queue, state({ lastRunAt: new Date(T + 1000), runCount: 3 }), T, cancelled);
    const back = await cancelAhead(queue, state({ lastRunAt: new Date(T + 2000), runCount: 4 }), T + 1500, cancelled);
    expect(back).toEqual({ nextRunAt: new Date(T + 1000), lastRunAt: new Date(T), runCount: 2, enabled: true });
  });

  /** A shared durable queue (as Redis) on which the occurrence at `late` is pushed only after `missingFor` cancel calls. */
  function sharedQueue(late: number, missingFor: number): TaskQueue & { calls: string[] } {
    const calls: string[] = [];
    const queue = {
      capabilities: { durable: true, soleConsumer: false, claimsOverlapWrites: false },
      calls,
      cancelTask: async (taskId: string) => {
        calls.push(taskId);
        if (taskId === occurrenceTaskId('s', new Date(late)) && calls.filter((c) => c === taskId).length <= missingFor) throw new TaskNotFoundError(taskId);
        return true;
      },
    };
    return queue as unknown as TaskQueue & { calls: string[] };
  }

  it('on a shared queue, waits for an occurrence another instance has claimed and not yet pushed', async () => {
    // from the audit: the retry stopped at the new claim's occurrence (not in Redis yet) and gave nothing back,
    // so what the first try had cancelled was lost
    const cancelled = new Set<number>([T + 1000]);
    const queue = sharedQueue(T + 2000, 3);
    const back = await cancelAhead(queue, state({ lastRunAt: new Date(T + 2000), runCount: 4 }), T, cancelled);
    expect(back).toEqual({ nextRunAt: new Date(T + 1000), lastRunAt: new Date(T), runCount: 2, enabled: true });
    expect(queue.calls.filter((c) => c === occurrenceTaskId('s', new Date(T + 2000)))).toHaveLength(4);
  });

  it('on a shared queue, gives back an occurrence that never arrives (its claimer stopped between claim and push)', async () => {
    const queue = sharedQueue(T + 2000, Infinity);
    const started = Date.now();
    const back = await cancelAhead(queue, state({ lastRunAt: new Date(T + 2000), runCount: 4 }), T, new Set());
    expect(Date.now() - started).toBeGreaterThanOrEqual(PUSH_WAIT_MS);
    expect(back).toEqual({ nextRunAt: new Date(T + 1000), lastRunAt: new Date(T), runCount: 2, enabled: true });
  });
});

describe('HeldOccurrences', () => {
  beforeEach(() => (clock.t = T));

  const due = (over: Partial<DueSchedule>): DueSchedule => ({
    taskId: 's', name: 's', taskType: 't', params: {}, scheduleType: 'interval', intervalSeconds: 1, cronExpression: null, timezone: null, executeAt: null,
    lastRunAt: null, nextRunAt: new Date(T), runCount: 0, maxRuns: 0, misfirePolicy: 'fire_once', priority: 0, overlap: 'allow', flow: null, version: 0, ...over,
  });
  const ids = (times: number[]) => times.map((t) => occurrenceTaskId('s', new Date(t)));

  it('gives back, on stop, the occurrences still ahead across successive claims of a row', async () => {
    const queue = queueWith('s', [T, T + 1000, T + 2000]);
    const held = new HeldOccurrences();
    held.note(due({ lastRunAt: new Date(T - 1000), runCount: 4, version: 7 }), { fire: [new Date(T), new Date(T + 1000)], next: new Date(T + 2000), missed: 0 }, ids([T, T + 1000]), T);
    held.note(due({ lastRunAt: new Date(T + 1000), runCount: 6, version: 8 }), { fire: [new Date(T + 2000)], next: new Date(T + 3000), missed: 0 }, ids([T + 2000]), T + 500);
    clock.t = T + 500;
    const { moves, cancelled } = await held.cancelAll(queue, T + 500);
    expect(cancelled).toBe(2);
    expect(moves).toEqual([{ taskId: 's', next: T + 1000, last: T, runs: 5, version: 9 }]);
  });

  it('walks its rows at most once a second: a row that came due between two sweeps goes at the next walk', () => {
    const held = new HeldOccurrences();
    const plan = (at: number) => ({ fire: [new Date(at)], next: new Date(at + 1000), missed: 0 });
    held.note(due({ version: 1 }), plan(T + 1000), ids([T + 1000]), T);
    held.sweep(T);
    expect(held.size).toBe(1);
    held.sweep(T + 1000);
    expect(held.size).toBe(0);
    held.note(due({ version: 1 }), plan(T + 1500), ids([T + 1500]), T + 1000);
    held.sweep(T + 1600); // 600 ms after the last walk: not walked
    expect(held.size).toBe(1);
    held.sweep(T + 2000);
    expect(held.size).toBe(0);
  });

  it('forgets a row whose occurrences have all come due, and one changed by someone else since', async () => {
    const held = new HeldOccurrences();
    held.note(due({ version: 1 }), { fire: [new Date(T + 1000)], next: new Date(T + 2000), missed: 0 }, ids([T + 1000]), T);
    held.sweep(T + 1000);
    expect(held.size).toBe(0);
    held.note(due({ version: 1 }), { fire: [new Date(T + 1000)], next: new Date(T + 2000), missed: 0 }, ids([T + 1000]), T);
    // read at version 5: not the version this instance wrote (2), so only the new claim is held
    held.note(due({ version: 5, runCount: 3, lastRunAt: new Date(T + 1000) }), { fire: [new Date(T + 2000)], next: new Date(T + 3000), missed: 0 }, ids([T + 2000]), T);
    const { moves } = await held.cancelAll(queueWith('s', [T + 1000, T + 2000]), T);
    expect(moves).toEqual([{ taskId: 's', next: T + 2000, last: T + 1000, runs: 3, version: 6 }]);
  });
});
