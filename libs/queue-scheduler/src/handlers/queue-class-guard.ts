import type { ForwardReference } from '@nestjs/common';
import type { DiscoveryService } from '@nestjs/core';
import { InvalidOptionsError } from '../errors/errors';
import { memoryQueueRefusal } from '../queue/inactive-queue';

type ProviderWrapper = ReturnType<DiscoveryService['getProviders']>[number];

// Nest's own metadata keys (@nestjs/common/constants: PARAMTYPES_METADATA, SELF_DECLARED_DEPS_METADATA,
// PROPERTY_DEPS_METADATA): what its injector reads to resolve a class's dependencies, so what we read too.
const PARAMTYPES = 'design:paramtypes';
const SELF_DECLARED = 'self:paramtypes';
const PROPERTIES = 'self:properties_metadata';

/** A token as written in `@Inject(...)`, a factory's `inject` or a forwardRef, resolved to what Nest looks up. */
function tokenOf(token: unknown): unknown {
  if (token && typeof token === 'object' && 'token' in token) token = (token as { token: unknown }).token;
  if (token && typeof token === 'object' && typeof (token as ForwardReference).forwardRef === 'function') return (token as ForwardReference<() => unknown>).forwardRef();
  return token;
}

/**
 * Injection token of the backend each concrete queue class stands for
 * (MemoryQueueService → 'memory', …). The module, which selects the backend,
 * provides it, so this folder needs no backend's class.
 */
export const QUEUE_CLASSES = Symbol('QUEUE_SCHEDULER_QUEUE_CLASSES');
export type QueueClasses = ReadonlyMap<unknown, string>;

/** Where `wrapper` asks for `queueClass`: 'constructor parameter 0', 'property queue', 'factory inject[1]'. */
function injectionsOf(wrapper: ProviderWrapper, queueClass: unknown): string[] {
  const found: string[] = [];
  const metatype = wrapper.metatype as (abstract new (...args: never[]) => unknown) | null;
  if (!metatype) return found;
  if (wrapper.inject) {
    // a factory (useFactory, or useExisting: an alias is a factory of the token it names)
    wrapper.inject.forEach((token, i) => tokenOf(token) === queueClass && found.push(wrapper.isAlias ? 'useExisting' : `factory inject[${i}]`));
    return found;
  }
  const params = [...((Reflect.getMetadata(PARAMTYPES, metatype) as unknown[] | undefined) ?? [])];
  for (const { index, param } of (Reflect.getMetadata(SELF_DECLARED, metatype) as Array<{ index: number; param: unknown }> | undefined) ?? []) params[index] = param;
  params.forEach((token, i) => tokenOf(token) === queueClass && found.push(`constructor parameter ${i}`));
  for (const { key, type } of (Reflect.getMetadata(PROPERTIES, metatype) as Array<{ key: string | symbol; type: unknown }> | undefined) ?? []) {
    if (tokenOf(type) === queueClass) found.push(`property ${String(key)}`);
  }
  return found;
}

/**
 * Stops start-up when a provider or controller of the app injects the queue
 * class of a backend other than `queue.backend`: MemoryQueueService's pushes
 * would sit in this process's memory and DatabaseQueueService's in a table no
 * worker here claims from; nothing would ever run them. `library` is the
 * module of the library's own providers: they inject them knowingly (the
 * TaskQueue factory picks a backend among them; the testing module's tester
 * drives the memory queue, and that module always runs on memory).
 * `queueClasses` says which backend each queue class stands for.
 */
export function refuseUnselectedQueueInjection(
  backend: string,
  queueClasses: QueueClasses,
  wrappers: readonly ProviderWrapper[],
  library: ProviderWrapper['host'],
): void {
  for (const [queueClass, own] of queueClasses) {
    if (own === backend) continue;
    const users: string[] = [];
    for (const wrapper of wrappers) {
      if (library && wrapper.host === library) continue;
      const where = injectionsOf(wrapper, queueClass);
      if (where.length) users.push(`${describe(wrapper)} (${where.join(', ')})`);
    }
    if (!users.length) continue;
    const name = (queueClass as { name: string }).name;
    const who = `${users.join('; ')} ${users.length === 1 ? 'injects' : 'inject'} ${name}`;
    if (own === 'memory') throw memoryQueueRefusal(backend, who);
    throw new InvalidOptionsError(
      'queue.backend',
      `${who}, the queue of the '${own}' backend, but queue.backend is '${backend}': its tasks would never reach this app's workers. Inject TaskQueue instead (the same API on every backend).`,
    );
  }
}

function describe(wrapper: ProviderWrapper): string {
  const { token, metatype } = wrapper;
  if (typeof token === 'function') return token.name;
  const name = typeof token === 'symbol' ? token.toString() : String(token);
  return wrapper.inject ? `provider ${name}` : `${(metatype as { name?: string } | null)?.name ?? 'provider'} (provided as ${name})`;
}
