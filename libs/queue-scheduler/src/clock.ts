/** Injection token of the time source the memory queue, the store and the scheduler read. */
export const QUEUE_SCHEDULER_CLOCK = Symbol('QUEUE_SCHEDULER_CLOCK');

/**
 * Where the library reads "now". The system clock in apps; the testing
 * module's virtual clock in tests, which then drives the scheduler and the
 * delayed tasks itself (`manual`), so no timer of the library waits in real time.
 */
export interface Clock {
  now(): number;
  /** true: time moves only when the owner advances it; the library arms no timer for due work. */
  readonly manual: boolean;
}

export const systemClock: Clock = { now: () => Date.now(), manual: false };
