import { InvalidOptionsError } from './errors/errors';
import type { QueueSchedulerModuleOptions } from './interfaces/options.interface';
import { MAX_TIMER_MS } from './queue-scheduler.constants';
import { resolveOptions, retentionMs } from './queue-scheduler.options';
import { DEFAULT_OPTIONS } from './queue-scheduler.constants';

describe('resolveOptions: scheduler.lookaheadMs', () => {
  it('claims 750 ms ahead by default (off the whole second), and not at all by default on the database backend', () => {
    expect(resolveOptions().scheduler.lookaheadMs).toBe(750);
    expect(resolveOptions({ queue: { backend: 'redis' } }).scheduler.lookaheadMs).toBe(750);
    expect(resolveOptions({ queue: { backend: 'database' } }).scheduler.lookaheadMs).toBe(0);
  });

  it('takes the value given, on every backend', () => {
    expect(resolveOptions({ queue: { backend: 'database' }, scheduler: { lookaheadMs: 2000 } }).scheduler.lookaheadMs).toBe(2000);
    expect(resolveOptions({ scheduler: { lookaheadMs: 0 } }).scheduler.lookaheadMs).toBe(0);
  });
});

describe('resolveOptions: durations a timer waits for', () => {
  const over = MAX_TIMER_MS + 1;
  // Node runs a timer longer than MAX_TIMER_MS after 1 ms: each of these was accepted and then fired every millisecond
  it.each<[string, QueueSchedulerModuleOptions]>([
    ['scheduler.pollIntervalMs', { scheduler: { pollIntervalMs: over } }],
    ['queue.pollIntervalMs', { queue: { pollIntervalMs: over } }],
    ['queue.leaseMs', { queue: { leaseMs: over } }],
    ['queue.sweepIntervalMs', { queue: { sweepIntervalMs: over } }],
    ['queue.clusterEventsPollMs', { queue: { clusterEventsPollMs: over } }],
    ['store.cleanupIntervalSeconds', { store: { cleanupIntervalSeconds: Math.floor(MAX_TIMER_MS / 1000) + 1 } }],
    ['shutdownTimeoutMs', { shutdownTimeoutMs: over }],
    ['retries.delayMs', { retries: { attempts: 2, delayMs: over } }],
    ['retries.maxDelayMs', { retries: { attempts: 2, maxDelayMs: over } }],
  ])('refuses %s above the longest timer Node keeps, naming the field and the value', (field, options) => {
    let error: unknown;
    try {
      resolveOptions(options);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as InvalidOptionsError).field).toBe(field);
    expect((error as Error).message).toMatch(new RegExp(`^${field.replace('.', '\\.')} must be at most \\d+ (ms|seconds) .*, got \\d+$`));
  });

  it('accepts each of them at the longest timer Node keeps', () => {
    const max = MAX_TIMER_MS;
    const resolved = resolveOptions({
      scheduler: { pollIntervalMs: max },
      queue: { pollIntervalMs: max, leaseMs: max, sweepIntervalMs: max, retentionDays: 36_500 },
      store: { cleanupIntervalSeconds: Math.floor(max / 1000) },
      shutdownTimeoutMs: max,
      retries: { attempts: 2, delayMs: max, maxDelayMs: max },
    });
    expect(resolved.queue.leaseMs).toBe(max);
    // retentionDays is compared with row ages, never waited for: a long one stays legitimate
    expect(resolved.queue.retentionDays).toBe(36_500);
  });
});

describe('resolveOptions: cluster events', () => {
  it('are off by default, kept an hour and read every 100 ms when on', () => {
    const { queue } = resolveOptions();
    expect({ on: queue.clusterEvents, kept: queue.clusterEventsRetentionMs, poll: queue.clusterEventsPollMs }).toEqual({ on: false, kept: 3_600_000, poll: 100 });
  });

  it.each<[string, QueueSchedulerModuleOptions]>([
    ['queue.clusterEvents', { queue: { clusterEvents: 'yes' as unknown as boolean } }],
    ['queue.clusterEventsRetentionMs', { queue: { clusterEventsRetentionMs: 0 } }],
    ['queue.clusterEventsPollMs', { queue: { clusterEventsPollMs: 1.5 } }],
    // shorter than a reader needs to reach the rows: the sweep deleted them first
    ['queue.clusterEventsRetentionMs', { queue: { clusterEventsRetentionMs: 9_999 } }],
    ['queue.clusterEventsRetentionMs', { queue: { clusterEventsRetentionMs: 20_000, clusterEventsPollMs: 2_001 } }],
  ])('refuses a bad %s, naming it', (field, options) => {
    expect(() => resolveOptions(options)).toThrow(expect.objectContaining({ field }) as Error);
  });

  it('keeps a retention of any length from 10 s and 10 polls: it is compared with ages, never waited for', () => {
    expect(resolveOptions({ queue: { clusterEventsRetentionMs: 10_000 } }).queue.clusterEventsRetentionMs).toBe(10_000);
    expect(resolveOptions({ queue: { clusterEventsRetentionMs: 20_000, clusterEventsPollMs: 2_000 } }).queue.clusterEventsRetentionMs).toBe(20_000);
    expect(() => resolveOptions({ queue: { clusterEventsRetentionMs: 5_000 } })).toThrow('queue.clusterEventsRetentionMs must be at least 10000 (10 s, and 10 × queue.clusterEventsPollMs');
    expect(resolveOptions({ queue: { clusterEventsRetentionMs: 10 * MAX_TIMER_MS } }).queue.clusterEventsRetentionMs).toBe(10 * MAX_TIMER_MS);
  });
});

describe('resolveOptions: sqlite.checkpoints', () => {
  it("is 'background' by default and takes 'inline'", () => {
    expect(resolveOptions().sqlite.checkpoints).toBe('background');
    expect(resolveOptions({ sqlite: { checkpoints: 'inline' } }).sqlite.checkpoints).toBe('inline');
  });

  it('refuses anything else, naming the field and the value', () => {
    let error: unknown;
    try {
      resolveOptions({ sqlite: { checkpoints: 'worker' as 'inline' } });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as InvalidOptionsError).field).toBe('sqlite.checkpoints');
    expect((error as Error).message).toBe("sqlite.checkpoints must be 'background' or 'inline', got 'worker'");
  });
});

describe('resolveOptions: an option set to undefined', () => {
  // a forRootAsync factory passes config values through, and an unset one is undefined
  it('takes its default, in every group and in the retry policy', () => {
    const resolved = resolveOptions({
      workers: { concurrency: undefined },
      store: { cleanupIntervalSeconds: undefined },
      scheduler: { pollIntervalMs: undefined },
      queue: { retentionDays: undefined, pollIntervalMs: undefined, backend: undefined },
      sqlite: { checkpoints: undefined },
      retries: { attempts: 3, delayMs: undefined },
    });
    expect(resolved.workers.concurrency).toBe(DEFAULT_OPTIONS.workers.concurrency);
    expect(resolved.store.cleanupIntervalSeconds).toBe(DEFAULT_OPTIONS.store.cleanupIntervalSeconds);
    expect(resolved.scheduler.pollIntervalMs).toBe(DEFAULT_OPTIONS.scheduler.pollIntervalMs);
    expect(resolved.queue).toMatchObject({ retentionDays: 30, pollIntervalMs: DEFAULT_OPTIONS.queue.pollIntervalMs, backend: 'memory' });
    expect(resolved.sqlite.checkpoints).toBe('background');
    expect(resolved.retries).toMatchObject({ attempts: 3, delayMs: DEFAULT_OPTIONS.retries.delayMs });
  });

  it('is not null: null is a value, refused with the field named', () => {
    expect(() => resolveOptions({ queue: { retentionDays: null as never } })).toThrow('queue.retentionDays must be a finite number >= 0, got null');
    // a group or a top-level option read null as "the defaults"
    for (const field of ['workers', 'store', 'scheduler', 'queue', 'sqlite', 'retries']) {
      expect(() => resolveOptions({ [field]: null } as never)).toThrow(new InvalidOptionsError(field, `${field} must be an object of options, got null`));
    }
    expect(() => resolveOptions({ workers: 5 } as never)).toThrow('workers must be an object of options, got 5');
    expect(() => resolveOptions({ queue: [] } as never)).toThrow(InvalidOptionsError);
    expect(() => resolveOptions(null as never)).toThrow('options must be an object of options, got null');
    for (const field of ['shutdownTimeoutMs', 'logLevel', 'autoStart', 'tracing']) {
      expect(() => resolveOptions({ [field]: null } as never)).toThrow(expect.objectContaining({ field }));
    }
  });
});

describe('retentionMs: queue.retentionDays as the backends compare it', () => {
  it('is whole milliseconds, never less than the days given', () => {
    expect(retentionMs(1 / 7)).toBe(Math.ceil(86_400_000 / 7));
    expect(retentionMs(30)).toBe(30 * 86_400_000);
    expect(retentionMs(1e-9)).toBe(1);
  });

  it('is 0 (keep) for 0, and at most the span a Date holds for any length', () => {
    expect(retentionMs(0)).toBe(0);
    for (const days of [1e9, 1e300, Number.MAX_VALUE]) expect(retentionMs(days)).toBe(8.64e15);
    expect(new Date(Date.now() - retentionMs(Number.MAX_VALUE)).getTime()).toBeLessThan(0);
  });
});
