import { Logger, type LogLevel } from '@nestjs/common';

const RANK: Record<LogLevel, number> = { verbose: 0, debug: 1, log: 2, warn: 3, error: 4, fatal: 5 };

/**
 * Nest's Logger filtered by the module's own `logLevel`, so an app can quiet
 * this library without changing the global logger levels.
 */
export class LibraryLogger {
  private readonly logger: Logger;
  private readonly min: number;

  constructor(context: string, level: LogLevel = 'log') {
    this.logger = new Logger(context);
    this.min = RANK[level];
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.min;
  }

  debug(message: string): void {
    if (this.min <= RANK.debug) this.logger.debug(message);
  }

  log(message: string): void {
    if (this.min <= RANK.log) this.logger.log(message);
  }

  warn(message: string): void {
    if (this.min <= RANK.warn) this.logger.warn(message);
  }

  /** Keeps the stack as Nest's second argument so it is printed, not lost. */
  error(message: string, error?: unknown): void {
    if (this.min > RANK.error) return;
    const stack = error instanceof Error ? error.stack : undefined;
    if (stack) this.logger.error(message, stack);
    else this.logger.error(message);
  }
}

/** "task <id> (<type>)": the prefix of every log line about one task. */
export function taskLabel(task: { taskId: string; type: string }): string {
  return `task ${task.taskId} (${task.type})`;
}
