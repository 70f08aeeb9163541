import type { RegisteredHandler, TaskHandlerRegistry } from '../handlers/task-handler.registry';
import type { RateLimit } from '../interfaces/task-handler.interface';
import type { ClaimFilter } from '../queue/queue-consumer';

/**
 * What the pool may claim: the handled types with a free slot under their
 * own `concurrency`, each capped type's free slots, and the rate limits. Built
 * once and kept until a capped type's count of running tasks changes.
 */
export class ClaimFilters {
  private readonly runningByType = new Map<string, number>();
  private filter?: ClaimFilter;

  constructor(
    private readonly registry: TaskHandlerRegistry,
    /** The queue's capabilities.soleConsumer: a task of a type with no handler may be taken, to dead-letter it. */
    private readonly soleConsumer: boolean,
  ) {}

  get current(): ClaimFilter {
    return (this.filter ??= this.build());
  }

  /** Handlers registered since the last build count from now on (a restart of the pool). */
  reset(): void {
    this.filter = undefined;
  }

  /** Counts running tasks of a capped type; any change invalidates the claim filter. */
  track(handler: RegisteredHandler, delta: 1 | -1): void {
    this.runningByType.set(handler.type, (this.runningByType.get(handler.type) ?? 0) + delta);
    this.filter = undefined;
  }

  private build(): ClaimFilter {
    const handled = new Set(this.registry.types());
    const remaining = new Map<string, number>();
    const types: string[] = [];
    const rateLimits = new Map<string, RateLimit>();
    for (const handler of this.registry.all()) {
      const left = handler.concurrency - (this.runningByType.get(handler.type) ?? 0);
      if (left <= 0) continue;
      types.push(handler.type);
      if (handler.concurrency !== Infinity) remaining.set(handler.type, left);
      if (handler.rateLimit) rateLimits.set(handler.type, handler.rateLimit);
    }
    return { types, unknownTypes: this.soleConsumer, handled, remaining, ...(rateLimits.size > 0 && { rateLimits }) };
  }
}
