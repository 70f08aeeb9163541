import { DiscoveryService } from '@nestjs/core';
import type { TaskHandlerOptions } from '../interfaces/task-handler.interface';

export interface TaskHandlerMetadata extends TaskHandlerOptions {
  type: string;
}

/** Internal discoverable key; the explorer reads it back through DiscoveryService. */
export const TASK_HANDLER = DiscoveryService.createDecorator<TaskHandlerMetadata>();

/**
 * Marks a provider method as the handler of one task type. The method gets
 * `(params, ctx: TaskContext)`; its resolved value is kept as the task's result.
 *
 * @example
 * @TaskHandler('send_email', { concurrency: 2, timeoutMs: 30_000, retries: { attempts: 3 } })
 * async send(params: { to: string }, ctx: TaskContext) { … }
 * @publicApi
 */
export const TaskHandler = (type: string, options: TaskHandlerOptions = {}): MethodDecorator =>
  TASK_HANDLER({ type, ...options });
