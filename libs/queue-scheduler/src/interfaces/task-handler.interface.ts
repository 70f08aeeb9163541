import type { RetryPolicy } from './options.interface';
import type { TaskContext } from './task.interface';

/** Options of `@TaskHandler`. @publicApi */
export interface TaskHandlerOptions {
  /** Most tasks of this type running at once in this process. @default no cap beyond workers.concurrency */
  concurrency?: number | undefined;
  /** A try still running after this long fails and its signal is aborted. @default none */
  timeoutMs?: number | undefined;
  /** @default the module's `retries` option */
  retries?: RetryPolicy | undefined;
  /**
   * Pause the type at every start-up, before any worker of this instance
   * claims (`pauseType`, so on a durable backend for every instance): its tasks
   * are queued and wait for `resumeType(type)`. @default false
   */
  paused?: boolean | undefined;
  /**
   * At most `max` tries of this type start per `perMs` window (fixed windows,
   * aligned on multiples of `perMs`): across every instance on the durable
   * backends, in this process on memory. Tasks over the limit wait. @default none
   */
  rateLimit?: RateLimit | undefined;
}

/** @publicApi */
export interface RateLimit {
  readonly max: number;
  readonly perMs: number;
}

export type TaskHandlerFn<P = any, R = unknown> = (params: P, ctx: TaskContext<P>) => Promise<R> | R;
