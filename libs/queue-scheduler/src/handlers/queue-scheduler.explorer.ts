import { Inject, Injectable, OnModuleInit, Optional } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { InvalidOptionsError, InvalidTaskHandlerError } from '../errors/errors';
import type { ResolvedOptions } from '../interfaces/options.interface';
import { RESOLVED_OPTIONS } from '../queue-scheduler.constants';
import type { ScheduledMethod } from '../scheduler/declared-schedule';
import { DeclaredSchedulesService } from '../scheduler/declared-schedules.service';
import { SCHEDULED, type ScheduledOptions } from './scheduled.decorator';
import { QUEUE_CLASSES, type QueueClasses, refuseUnselectedQueueInjection } from './queue-class-guard';
import { TASK_HANDLER, type TaskHandlerMetadata } from './task-handler.decorator';
import { TaskHandlerRegistry } from './task-handler.registry';

type ProviderWrapper = ReturnType<DiscoveryService['getProviders']>[number];
type Methods = Record<string, unknown>;

/** One method carrying the library's decorators. */
interface Marked {
  /** `Class.method`, for messages. */
  source: string;
  method: string;
  handler?: TaskHandlerMetadata;
  schedules?: ScheduledOptions[];
}

/** A provider scope the decorators are refused on, and why. */
interface Scoped {
  scope: string;
  why: string;
}
const REQUEST_SCOPED: Scoped = { scope: 'request-scoped (or depends on one)', why: 'Workers and schedules run outside any request' };
const TRANSIENT: Scoped = { scope: 'transient', why: 'Workers and schedules call one instance for the whole app' };

/**
 * The one walk over every provider and controller at module init (all of
 * them: a method decorator leaves no class-level mark). It registers each
 * `@TaskHandler` in TaskHandlerRegistry and hands the `@Scheduled` methods to
 * DeclaredSchedulesService, which validates them now and writes them at
 * bootstrap; so a bad handler or declaration stops start-up before any worker
 * or schedule runs. One rule for both decorators: on a request-scoped
 * provider (or one depending on one) or a transient one they are refused,
 * since workers and schedules run outside any request, on one instance. The same walk refuses any class that
 * injects the queue class of a backend other than `queue.backend`.
 */
@Injectable()
export class QueueSchedulerExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly registry: TaskHandlerRegistry,
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    @Inject(QUEUE_CLASSES) private readonly queueClasses: QueueClasses,
    @Optional() private readonly declaredSchedules?: DeclaredSchedulesService,
  ) {}

  onModuleInit(): void {
    const wrappers = [...this.discovery.getProviders(), ...this.discovery.getControllers()];
    refuseSecondImport(wrappers);
    // the library's own providers share this explorer's module
    const library = wrappers.find((w) => w.instance === this)?.host;
    refuseUnselectedQueueInjection(this.options.queue.backend, this.queueClasses, wrappers, library);
    const scheduled: ScheduledMethod[] = [];
    for (const wrapper of wrappers) {
      const found = this.explore(wrapper);
      if (!found) continue;
      for (const { source, method, handler, schedules } of found.marked) {
        if (handler) {
          const { type, ...options } = handler;
          const fn = (found.instance[method] as (...args: unknown[]) => unknown).bind(found.instance);
          this.registry.register(type, source, fn, options);
        }
        if (schedules?.length) scheduled.push({ source, taskType: handler?.type, list: schedules });
      }
    }
    if (this.declaredSchedules) this.declaredSchedules.declare(scheduled);
    else if (scheduled.length) {
      throw new InvalidOptionsError('dataSource', `@Scheduled on ${scheduled.map((s) => s.source).join(', ')} needs DeclaredSchedulesService, which this module does not provide`);
    }
  }

  /** The marked methods of one singleton provider; a request-scoped one that has any is refused. */
  private explore(wrapper: ProviderWrapper): { instance: Methods; marked: Marked[] } | undefined {
    if (wrapper.isAlias) return undefined;
    // no instance of its own to call: a request-scoped one has none outside a request, and a transient one's
    // wrapper holds an object whose constructor never ran (its handlers failed on every task, reading undefined)
    const scoped = !wrapper.isDependencyTreeStatic() ? REQUEST_SCOPED : wrapper.isTransient ? TRANSIENT : undefined;
    if (scoped) {
      // read the class, so its decorators are refused, not ignored
      const metatype = wrapper.metatype as { prototype?: object; name?: string } | null;
      if (metatype?.prototype) this.refuseScoped(this.marked(metatype.prototype as Methods, metatype.prototype, metatype.name), scoped);
      return undefined;
    }
    const { instance } = wrapper;
    if (!instance || typeof instance !== 'object') return undefined;
    const prototype = Object.getPrototypeOf(instance) as object | null;
    if (!prototype) return undefined;
    return { instance: instance as Methods, marked: this.marked(instance as Methods, prototype, (instance as object).constructor.name) };
  }

  /** Reads both decorators off every method of `prototype`, as `target` (the instance, or the prototype itself) holds them. */
  private marked(target: Methods, prototype: object, className: string | undefined): Marked[] {
    const marked: Marked[] = [];
    for (const method of this.scanner.getAllMethodNames(prototype)) {
      const fn = target[method];
      if (typeof fn !== 'function') continue;
      const handler = Reflect.getMetadata(TASK_HANDLER.KEY, fn) as TaskHandlerMetadata | undefined;
      const schedules = Reflect.getMetadata(SCHEDULED.KEY, fn) as ScheduledOptions[] | undefined;
      if (handler || schedules?.length) marked.push({ source: `${className}.${method}`, method, handler, schedules });
    }
    return marked;
  }

  private refuseScoped(marked: Marked[], { scope, why }: Scoped): void {
    const [first] = marked;
    if (!first) return;
    const decorators = [first.handler && '@TaskHandler', first.schedules?.length && '@Scheduled'].filter(Boolean).join(' and ');
    throw new InvalidTaskHandlerError(`${decorators} on ${first.source} is not supported: the provider is ${scope}. ${why}; make the provider a singleton.`);
  }
}

/**
 * Two QueueSchedulerModule imports in one app are two modules with a worker
 * pool, a scheduler and a registry each, both walking every provider: every
 * handler twice, and the second module's queue refused by the first one's
 * injection guard with a message about the backend, which the user never
 * got wrong. One explorer per app is the one rule that says what happened.
 */
function refuseSecondImport(wrappers: ProviderWrapper[]): void {
  const imports = wrappers.filter((w) => w.metatype === QueueSchedulerExplorer && !w.isAlias).length;
  if (imports < 2) return;
  throw new InvalidOptionsError(
    'QueueSchedulerModule',
    `QueueSchedulerModule is imported ${imports} times in this app (forRoot, forRootAsync or QueueSchedulerTestingModule): import it once, in the root module ` +
      '(in a test, QueueSchedulerTestingModule instead of forRoot, not beside it). It is global by default, so every module injects its services without importing it.',
  );
}
