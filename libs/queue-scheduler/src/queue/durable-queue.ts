import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Task } from '../interfaces/task.interface';
import type { ClaimFilter } from './queue-consumer';
import { taskLabel } from '../queue-scheduler.logger';
import { TaskQueue } from './task-queue';

/** A durable queue's store methods answer with promises: TaskQueue's one facade, typed so (declaration merging). */
export interface DurableTaskQueue {
  setPublic(key: string, value: unknown, ttlSeconds?: number | null): Promise<void>;
  getPublic<T = unknown>(key: string): Promise<T | null>;
  deletePublic(key: string): Promise<boolean>;
  listKeys(): Promise<string[]>;
  getStoreSize(): Promise<number>;
  clearStore(): Promise<void>;
  cleanup(): Promise<number>;
}

/** The part of a durable backend that takes tasks and records their outcomes for this instance's workers. */
export interface DurableConsumer {
  claim(filter: ClaimFilter, limit: number): Promise<Task[]>;
  waitForWork(filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void>;
  complete(task: Task, result: unknown, durationMs: number): Promise<void>;
  fail(task: Task, error: Error, retryAt: Date | null, durationMs: number): Promise<void>;
  release(task: Task): Promise<void>;
  renewLeases(): Promise<number>;
}

/**
 * What the database and Redis backends share: an instance name for their
 * leases, async store types, onIdle by polling, and the QueueConsumer
 * methods handed to their consumer object.
 */
export abstract class DurableTaskQueue extends TaskQueue {
  /** This instance's name in its leases (`lease_owner` on the database, the lock tokens on Redis). */
  readonly owner = `${hostname().slice(0, 40)}:${process.pid}:${randomBytes(3).toString('hex')}`;

  /** Tasks pending (retries waiting included) or running, on any instance. */
  protected abstract unfinished(): Promise<number>;

  /**
   * Polls until no task is pending or running on any instance: other
   * processes finish tasks too, so no local signal can say when that is.
   */
  async onIdle(pollMs = 50): Promise<void> {
    while ((await this.unfinished()) > 0) await new Promise((resolve) => setTimeout(resolve, pollMs));
  }

  protected abstract readonly consumer: DurableConsumer;

  claim(filter: ClaimFilter, limit: number): Promise<Task[]> {
    return this.consumer.claim(filter, limit);
  }

  waitForWork(filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void> {
    return this.consumer.waitForWork(filter, timeoutMs, signal);
  }

  complete(task: Task, result: unknown, durationMs: number): Promise<void> {
    return this.consumer.complete(task, result, durationMs);
  }

  fail(task: Task, error: Error, retryAt: Date | null, durationMs: number): Promise<void> {
    return this.consumer.fail(task, error, retryAt, durationMs);
  }

  release(task: Task): Promise<void> {
    return this.consumer.release(task);
  }

  /** Extends the leases of every task this instance runs (the database's lease rows, Redis's job locks). */
  renewLeases(): Promise<number> {
    return this.consumer.renewLeases();
  }
}

/** The warning of a try whose lease another worker took over: its outcome is dropped, never written over the new try's. */
export function lostLeaseWarning(task: Task, outcome: string): string {
  return `${taskLabel(task)}: attempt ${task.attempts} ended (${outcome}) after its lease was lost; another worker owns the task now, so this outcome is not recorded`;
}
