import type { Clock } from '../clock';
import { describeValue, InvalidArgumentError } from '../errors/errors';

/**
 * Time that moves only when a test moves it. `advance` / `advanceTo` run
 * every schedule occurrence and task that falls due on the way, in time
 * order, and resolve when they are done; `travel` moves time without running
 * anything, as if the app had been down.
 * @publicApi
 */
export class VirtualClock implements Clock {
  readonly manual = true;
  private current: number;
  private driver?: (target: number) => Promise<void>;
  /** Set while the testing module that owns this clock is not running: moving time then would run nothing, or run against closed connections. */
  private refusal?: () => Error;
  private busy?: Promise<void>;

  constructor(start: Date | number = Date.now()) {
    this.current = toMs('startAt', start);
  }

  now(): number {
    return this.current;
  }

  /** Now, as a Date. */
  date(): Date {
    return new Date(this.current);
  }

  /** Moves time forward by `ms`, running what falls due (in order) and waiting for it. */
  advance(ms: number): Promise<void> {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      throw new InvalidArgumentError('ms', `ms must be a number of milliseconds >= 0, got ${describeValue(ms)}`);
    }
    if (this.refusal) throw this.refusal();
    // the target is taken when its turn comes: two advances called at once move time by both
    return this.drive(() => this.current + ms);
  }

  /** Moves time forward to `to`, running what falls due (in order) and waiting for it. */
  advanceTo(to: Date | number): Promise<void> {
    if (this.refusal) throw this.refusal();
    const target = toMs('to', to);
    if (target < this.current) {
      throw new InvalidArgumentError('to', `to must not be before the clock's time ${new Date(this.current).toISOString()}, got ${new Date(target).toISOString()}`);
    }
    return this.drive(() => target);
  }

  /** One drive at a time: a second call waits for the first, so occurrences stay in order. */
  private drive(targetOf: () => number): Promise<void> {
    const run = (this.busy ?? Promise.resolve()).then(() => {
      const target = targetOf();
      return this.driver ? this.driver(target) : this.set(target);
    });
    this.busy = run.catch(() => undefined);
    return run;
  }

  /**
   * Moves time by `ms` (negative goes back) and runs nothing: a downtime, or
   * a jump of the system clock. The next `advance` fires what is then due,
   * by each schedule's misfire policy.
   */
  travel(ms: number): void {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new InvalidArgumentError('ms', `ms must be a finite number of milliseconds, got ${describeValue(ms)}`);
    this.current += ms;
  }

  /** @internal the testing module's driver moves the time step by step */
  set(ms: number): void {
    this.current = ms;
  }

  /** @internal */
  attach(driver: (target: number) => Promise<void>): void {
    this.driver = driver;
    this.refusal = undefined;
  }

  /** @internal advance and advanceTo throw `refusal()` until the next attach */
  detach(refusal: () => Error): void {
    this.driver = undefined;
    this.refusal = refusal;
  }
}

function toMs(field: string, value: Date | number): number {
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new InvalidArgumentError(field, `${field} must be a Date or epoch milliseconds, got ${describeValue(value)}`);
  return ms;
}
