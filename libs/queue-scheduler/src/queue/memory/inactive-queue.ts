import { InvalidOptionsError } from '../../errors/errors';

/** The error of every refusal, start-up guard (handlers/queue-class-guard.ts) included; `what` says who used it. */
export function memoryQueueRefusal(backend: string, what: string): InvalidOptionsError {
  return new InvalidOptionsError(
    'queue.backend',
    `${what}, but queue.backend is '${backend}': a task pushed to MemoryQueueService would sit in this process's memory ` +
      `and no worker would ever run it. Inject TaskQueue instead (the same API on every backend).`,
  );
}

/**
 * The memory queue on another backend. Nest builds it anyway (the module
 * wires every backend class and picks one as TaskQueue), so a
 * `moduleRef.get(MemoryQueueService)` still finds it: this proxy makes every
 * method and getter of it throw, naming itself, instead of taking tasks no
 * worker runs. `allowed` are the lifecycle hooks Nest calls (they start no
 * timer on an inactive queue); whatever is not on the class's prototypes
 * (Nest's and other explorers' own probes) is passed through untouched.
 */
export function refuseUse<T extends object>(queue: T, backend: string, allowed: readonly string[]): T {
  const refused = new Set<string>();
  for (let proto = Object.getPrototypeOf(queue) as object | null; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const key of Object.getOwnPropertyNames(proto)) if (key !== 'constructor' && !allowed.includes(key)) refused.add(key);
  }
  const name = (queue.constructor as { name: string }).name;
  const throwers = new Map<string, () => never>();
  return new Proxy(queue, {
    get(target, key, receiver) {
      if (typeof key !== 'string' || !refused.has(key)) return Reflect.get(target, key, receiver) as unknown;
      // a getter (events$) refuses when read; a method when called, so explorers that read every method still boot
      if (findDescriptor(target, key)?.get) throw memoryQueueRefusal(backend, `${name}.${key} was read`);
      let thrower = throwers.get(key);
      if (!thrower) {
        thrower = () => {
          throw memoryQueueRefusal(backend, `${name}.${key}() was called`);
        };
        throwers.set(key, thrower);
      }
      return thrower;
    },
  });
}

function findDescriptor(target: object, key: string): PropertyDescriptor | undefined {
  for (let proto = Object.getPrototypeOf(target) as object | null; proto; proto = Object.getPrototypeOf(proto) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, key);
    if (descriptor) return descriptor;
  }
  return undefined;
}
