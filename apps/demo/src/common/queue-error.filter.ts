import { type ArgumentsHost, Catch, type ExceptionFilter, HttpStatus, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { QueueSchedulerError, TaskNotFoundError } from 'nestjs-queue-scheduler';

const REASONS: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 500: 'Internal Server Error' };

/** The library's input errors carry the offending field; the client should see it, not a 500. */
function fieldOf(err: QueueSchedulerError): string | undefined {
  const field = (err as { field?: unknown }).field;
  return typeof field === 'string' ? field : undefined;
}

/**
 * Maps the library's errors to HTTP: TaskNotFoundError → 404, errors with a
 * `.field` (InvalidTaskError, InvalidScheduleError, InvalidArgumentError) →
 * 400 naming it, anything else the library throws on purpose → 500.
 */
@Catch(QueueSchedulerError)
export class QueueErrorFilter implements ExceptionFilter<QueueSchedulerError> {
  private readonly logger = new Logger(QueueErrorFilter.name);

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(err: QueueSchedulerError, host: ArgumentsHost): void {
    const { httpAdapter } = this.adapterHost;
    const ctx = host.switchToHttp();
    const field = fieldOf(err);
    const status = err instanceof TaskNotFoundError ? HttpStatus.NOT_FOUND : field ? HttpStatus.BAD_REQUEST : HttpStatus.INTERNAL_SERVER_ERROR;
    if (status === HttpStatus.INTERNAL_SERVER_ERROR) {
      this.logger.error(`${httpAdapter.getRequestMethod?.(ctx.getRequest())} ${httpAdapter.getRequestUrl?.(ctx.getRequest())}: ${err.name}: ${err.message}`, err.stack);
    }
    const body = {
      statusCode: status,
      error: REASONS[status],
      message: err.message,
      code: err.name,
      ...(field ? { field } : {}),
    };
    httpAdapter.reply(ctx.getResponse(), body, status);
  }
}
