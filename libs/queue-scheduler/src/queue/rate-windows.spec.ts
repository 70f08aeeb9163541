import fc from 'fast-check';
import type { RateLimit } from '../interfaces/task-handler.interface';
import type { Task } from '../interfaces/task.interface';
import type { ClaimFilter } from './queue-consumer';
import { type PermitStore, RateLimitedClaims, windowOf } from './rate-windows';

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 20_1205;
const RUNS = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 200;

/** The shared count of the durable backends, as one map: what `take` grants is all a window has left. */
class Windows implements PermitStore {
  readonly used = new Map<number, number>();
  async take(_type: string, want: number, limit: RateLimit, windowStart: number): Promise<number> {
    const n = Math.min(want, limit.max - (this.used.get(windowStart) ?? 0));
    this.used.set(windowStart, (this.used.get(windowStart) ?? 0) + n);
    return n;
  }
  async giveBack(_type: string, n: number, _limit: RateLimit, windowStart: number): Promise<void> {
    this.used.set(windowStart, this.used.get(windowStart)! - n);
  }
}

const task = (i: number): Task => ({ taskId: `t${i}`, type: 'mail', params: {}, priority: 0, runAt: new Date(0), attempts: 1, createdAt: new Date(0) });
const RATE: RateLimit = { max: 5, perMs: 400 };
const filter: ClaimFilter & { rateLimits: ReadonlyMap<string, RateLimit> } = { types: ['mail'], unknownTypes: false, handled: new Set(['mail']), rateLimits: new Map([['mail', RATE]]) };

describe('RateLimitedClaims', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  /** A claim that takes `lagMs` of the clock before its `available` tasks come back; the tasks it returns start at the clock's reading after `claim`. */
  async function claimWithLag(store: Windows, lagMs: number, available: number) {
    const putBack: Array<{ task: Task; runAt: Date }> = [];
    const late: string[] = [];
    const claims = new RateLimitedClaims(store, async (t, runAt) => void putBack.push({ task: t, runAt }), (type) => late.push(type));
    let claimed: Task[] = [];
    const started = await claims.claim(filter, 100, async (f) => {
      jest.setSystemTime(Date.now() + lagMs);
      claimed = f.types.includes('mail') ? Array.from({ length: Math.min(available, f.remaining?.get('mail') ?? Infinity) }, (_, i) => task(i)) : [];
      return claimed;
    });
    return { started, putBack, late, claimed, startedAt: Date.now(), wakeAt: claims.wakeAt };
  }

  it('starts a prompt claim under the permits it took', async () => {
    const store = new Windows();
    const { started, putBack, late } = await claimWithLag(store, 5, 10);
    expect(started).toHaveLength(5);
    expect(putBack).toEqual([]);
    expect(late).toEqual([]);
    expect(store.used.get(windowOf(1_000_000, 400))).toBe(5);
  });

  it('recounts a claim that ended in the next window, which another instance already filled to 3 of 5', async () => {
    const store = new Windows();
    // 1,000,000 is 0 ms into its 400 ms window; 350 ms in (50 ms left: permits still granted), the claim's permits come from the old window
    jest.setSystemTime(1_000_350);
    const next = windowOf(1_000_350, 400) + 400;
    store.used.set(next, 3);
    const { started, putBack, late, startedAt, wakeAt } = await claimWithLag(store, 60, 5);
    expect(windowOf(startedAt, 400)).toBe(next);
    expect(started.map((t) => t.taskId)).toEqual(['t0', 't1']);
    expect(putBack.map((p) => p.task.taskId)).toEqual(['t2', 't3', 't4']);
    for (const p of putBack) expect(p.runAt.getTime()).toBe(next + 400);
    expect(store.used.get(next)).toBe(5);
    expect(late).toEqual(['mail']);
    expect(wakeAt).toBe(next + 400);
  });

  it('keeps the tasks of types without a rate limit that a late claim took beside a limited one', async () => {
    const store = new Windows();
    jest.setSystemTime(1_000_350);
    const claims = new RateLimitedClaims(store, async () => undefined);
    const mixed = { ...filter, types: ['mail', 'report'], handled: new Set(['mail', 'report']) };
    const started = await claims.claim(mixed, 100, async () => {
      jest.setSystemTime(1_000_410);
      return [task(0), { ...task(1), type: 'report' }];
    });
    expect(started.map((t) => t.type).sort()).toEqual(['mail', 'report']);
  });

  it('never starts more than max in the window its tasks start in, whatever the claim lag and the windows held before', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 399 }),
        fc.integer({ min: 0, max: 1_300 }),
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 5, maxLength: 5 }),
        async (offset, lag, available, before) => {
          jest.setSystemTime(1_000_000 + offset);
          const store = new Windows();
          before.forEach((n, i) => store.used.set(1_000_000 + i * 400, n));
          const { started, putBack, claimed, startedAt } = await claimWithLag(store, lag, available);
          const startWindow = windowOf(startedAt, 400);
          // what the window the tasks start in had counted before this claim, plus what they add, stays within max
          expect(started.length).toBeLessThanOrEqual(RATE.max - (before[(startWindow - 1_000_000) / 400] ?? 0));
          expect(store.used.get(startWindow) ?? 0).toBeLessThanOrEqual(RATE.max);
          // every task the claim took either starts or goes back to the queue, never both, never neither
          expect(new Set([...started, ...putBack.map((p) => p.task)])).toEqual(new Set(claimed));
          expect(started.length + putBack.length).toBe(claimed.length);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
