import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { InvalidTaskHandlerError } from '../errors/errors';
import type { ResolvedOptions } from '../interfaces/options.interface';
import { RESOLVED_OPTIONS } from '../queue-scheduler.constants';
import { refuseMemoryQueueInjection } from './queue-class-guard';
import { TASK_HANDLER } from './task-handler.decorator';
import { TaskHandlerRegistry } from './task-handler.registry';

type ProviderWrapper = ReturnType<DiscoveryService['getProviders']>[number];

/**
 * Finds `@TaskHandler` methods on every provider and controller at module
 * init (scanning all of them: a method decorator leaves no class-level mark),
 * so handler errors stop start-up before any worker runs. The same walk
 * refuses, on a durable backend, any class that injects MemoryQueueService.
 */
@Injectable()
export class TaskHandlerExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly registry: TaskHandlerRegistry,
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
  ) {}

  onModuleInit(): void {
    const wrappers = [...this.discovery.getProviders(), ...this.discovery.getControllers()];
    // the library's own providers share this explorer's module
    const library = wrappers.find((w) => w.instance === this)?.host;
    refuseMemoryQueueInjection(this.options.queue.backend, wrappers, library);
    for (const wrapper of wrappers) this.explore(wrapper);
  }

  private explore(wrapper: ProviderWrapper): void {
    const { instance } = wrapper;
    if (wrapper.isAlias || !instance || typeof instance !== 'object') {
      // Request-scoped providers have no static instance; look at the class so they are refused, not ignored.
      if (!wrapper.isAlias && wrapper.metatype && !wrapper.isDependencyTreeStatic()) this.refuseRequestScoped(wrapper);
      return;
    }
    const prototype = Object.getPrototypeOf(instance) as object | null;
    if (!prototype) return;
    if (!wrapper.isDependencyTreeStatic()) return this.refuseRequestScoped(wrapper);
    for (const method of this.scanner.getAllMethodNames(prototype)) {
      const meta = this.discovery.getMetadataByDecorator(TASK_HANDLER, wrapper, method);
      if (!meta) continue;
      const { type, ...options } = meta;
      const fn = (instance as Record<string, (...args: unknown[]) => unknown>)[method].bind(instance);
      this.registry.register(type, `${instance.constructor.name}.${method}`, fn, options);
    }
  }

  private refuseRequestScoped(wrapper: ProviderWrapper): void {
    const metatype = wrapper.metatype as { prototype?: object; name?: string } | null;
    const prototype = metatype?.prototype;
    if (!prototype) return;
    for (const method of this.scanner.getAllMethodNames(prototype)) {
      const meta = Reflect.getMetadata(TASK_HANDLER.KEY, (prototype as Record<string, object>)[method]) as unknown;
      if (meta) {
        throw new InvalidTaskHandlerError(
          `@TaskHandler on ${metatype?.name}.${method} is not supported: the provider is request-scoped (or depends on one). ` +
            'Workers run outside any request; make the provider a singleton.',
        );
      }
    }
  }
}
