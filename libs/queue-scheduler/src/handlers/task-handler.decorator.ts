import { DiscoveryService } from '@nestjs/core';
import { describeValue, InvalidTaskHandlerError } from '../errors/errors';
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
export const TaskHandler = (type: string, options: TaskHandlerOptions = {}): MethodDecorator => {
  const mark = TASK_HANDLER({ type, ...options });
  return (target, key, descriptor) => {
    refuseNonMethod(`@TaskHandler(${describeValue(type)})`, target, key, descriptor);
    mark(target, key, descriptor);
  };
};

/**
 * Only an instance method can be called on the provider Nest made: a getter or setter (TypeScript's MethodDecorator
 * type lets one through) failed in reflect-metadata with a bare TypeError as the class loaded, and a static method was
 * never found. Thrown as the class is defined, naming it.
 */
export function refuseNonMethod(decorator: string, target: object, key: string | symbol, descriptor: PropertyDescriptor | undefined): void {
  const isStatic = typeof target === 'function';
  const className = (isStatic ? (target as { name?: string }).name : target.constructor?.name) ?? '(anonymous class)';
  const where = `${decorator} on ${className}.${String(key)}`;
  if (isStatic) throw new InvalidTaskHandlerError(`${where}: a static method is not supported; put it on an instance method of a provider`);
  if (typeof descriptor?.value !== 'function') {
    throw new InvalidTaskHandlerError(`${where}: only a method can carry it, not a ${descriptor?.get || descriptor?.set ? 'getter or setter' : 'property'}`);
  }
}
