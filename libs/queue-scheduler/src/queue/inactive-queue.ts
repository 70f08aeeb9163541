import { InvalidOptionsError } from '../errors/errors';

/** The error of every refusal, start-up guard (handlers/queue-class-guard.ts) included; `what` says who used it. */
export function memoryQueueRefusal(backend: string, what: string): InvalidOptionsError {
  return new InvalidOptionsError(
    'queue.backend',
    `${what}, but queue.backend is '${backend}': a task pushed to MemoryQueueService would sit in this process's memory ` +
      `and no worker would ever run it. Inject TaskQueue instead (the same API on every backend).`,
  );
}

/** The refusal of a durable backend's queue class used in an app running another backend. */
export function otherBackendRefusal(backend: string, what: string): InvalidOptionsError {
  return new InvalidOptionsError(
    'queue.backend',
    `${what}, but queue.backend is '${backend}': that backend is not running in this app, and its tasks would never reach ` +
      `this app's workers. Inject TaskQueue instead (the same API on every backend).`,
  );
}

/** Nest's lifecycle hooks: no-ops on a stand-in (Nest and explorers read every method, so they must stay functions). */
const HOOKS = new Set(['onModuleInit', 'onApplicationBootstrap', 'onModuleDestroy', 'beforeApplicationShutdown', 'onApplicationShutdown']);

/**
 * What the module provides for the queue class of a backend other than
 * `queue.backend`: an object of that class (so `moduleRef.get(Class)` and
 * `instanceof` still work) that was never constructed, so it holds no
 * store, timer, connection or pool. Every method and getter of the class
 * throws the refusal, naming itself; Nest's lifecycle hooks do nothing;
 * what is not on the class's prototypes (Nest's and other explorers' own
 * probes) reads as undefined. The start-up guard stops an app that injects
 * such a class before anything can call it; this covers `moduleRef.get`.
 */
export function inactiveQueue<T extends object>(queueClass: abstract new (...args: never[]) => T, backend: string): T {
  const refuse = queueClass.name === 'MemoryQueueService' ? memoryQueueRefusal : otherBackendRefusal;
  const target = Object.create(queueClass.prototype as object) as T;
  const throwers = new Map<string, () => never>();
  return new Proxy(target, {
    get(obj, key, receiver) {
      if (typeof key !== 'string') return undefined;
      if (HOOKS.has(key)) return noop;
      const descriptor = findDescriptor(obj, key);
      if (!descriptor || key === 'constructor') return Reflect.get(obj, key, receiver) as unknown;
      // a getter (events$) refuses when read; a method when called, so explorers that read every method still boot
      if (descriptor.get) throw refuse(backend, `${queueClass.name}.${key} was read`);
      let thrower = throwers.get(key);
      if (!thrower) {
        thrower = () => {
          throw refuse(backend, `${queueClass.name}.${key}() was called`);
        };
        throwers.set(key, thrower);
      }
      return thrower;
    },
  });
}

const noop = (): void => undefined;

function findDescriptor(target: object, key: string): PropertyDescriptor | undefined {
  for (let proto = Object.getPrototypeOf(target) as object | null; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, key);
    if (descriptor) return descriptor;
  }
  return undefined;
}
