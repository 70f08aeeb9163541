import { type CallHandler, type ExecutionContext, HttpException, Inject, Injectable, type NestInterceptor, Optional, ServiceUnavailableException } from '@nestjs/common';
import { catchError, defer, mergeMap, type Observable, tap, timeout, TimeoutError } from 'rxjs';
import { QueueSchedulerError } from '../errors/errors';
import { QueueConsumer, throwIfUnreachable } from '../queue/queue-consumer';
import type { ResolvedOptions } from '../interfaces/options.interface';
import { RESOLVED_OPTIONS } from '../queue-scheduler.constants';
import { LibraryLogger, OutageLog } from '../queue-scheduler.logger';

/** How long a dashboard request waits for the backend: the page polls every 1-2 s and must not pile up hung requests. */
export const DASHBOARD_ANSWER_MS = 5000;

/**
 * Every dashboard route that reads or changes the queue goes through here, so
 * an unreachable backend gives the page a prompt 503 rather than a request that
 * hangs for the outage (a partition, or ioredis holding commands until Redis is
 * back) or a bare 500 with a stack logged per poll. While the Redis connection is
 * lost nothing is sent: an action refused now is not applied once Redis returns.
 */
@Injectable()
export class DashboardBackendInterceptor implements NestInterceptor {
  /** One log line per outage: a page polls several routes a second. */
  private readonly outage: OutageLog;

  constructor(
    @Optional() private readonly consumer?: QueueConsumer,
    @Optional() @Inject(RESOLVED_OPTIONS) options?: ResolvedOptions,
  ) {
    this.outage = new OutageLog(new LibraryLogger('QueueSchedulerDashboard', options?.logLevel));
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const action = context.switchToHttp().getRequest<{ method?: string }>().method !== 'GET';
    // not asked (a PING per request): known from the connection's state
    return defer(async () => throwIfUnreachable(this.consumer)).pipe(
      mergeMap(() => next.handle()),
      timeout({ first: DASHBOARD_ANSWER_MS }),
      tap(() => this.outage.worked("dashboard: the queue's backend answers again")),
      catchError((err: unknown) => {
        // ours to answer as before; and a programming error is a 500 with its stack, not an outage
        if (err instanceof HttpException || err instanceof QueueSchedulerError || isBug(err)) throw err;
        const message = err instanceof TimeoutError
          ? `the queue's backend did not answer within ${DASHBOARD_ANSWER_MS / 1000} s${action ? '; the action may still take effect once it does' : ''}`
          : `the queue's backend is unavailable: ${(err as Error)?.message ?? String(err)}`;
        this.outage.failed(`dashboard: ${message}`);
        throw new ServiceUnavailableException(message);
      }),
    );
  }
}

function isBug(err: unknown): boolean {
  return err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError;
}
