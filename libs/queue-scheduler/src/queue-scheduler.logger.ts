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
    if (this.min <= RANK.debug) this.logger.debug(printable(message));
  }

  log(message: string): void {
    if (this.min <= RANK.log) this.logger.log(printable(message));
  }

  warn(message: string): void {
    if (this.min <= RANK.warn) this.logger.warn(printable(message));
  }

  /** Keeps the stack as Nest's second argument so it is printed, not lost. */
  error(message: string, error?: unknown): void {
    if (this.min > RANK.error) return;
    const stack = error instanceof Error ? error.stack : undefined;
    if (stack) this.logger.error(printable(message), printable(stack, true));
    else this.logger.error(printable(message));
  }
}

// C0 and C1 controls, DEL, and the two Unicode line separators: what can forge a log line or drive a terminal
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const CONTROLS_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * `text` with every control character written as a `\uXXXX` escape. Task
 * ids, types, schedule names and error messages come from producers and
 * handlers; written raw, a newline forges a second log line and an escape
 * sequence rewrites the operator's terminal. A stack keeps its newlines.
 */
export function printable(text: string, keepNewlines = false): string {
  if (!CONTROL.test(text)) return text;
  return text.replace(keepNewlines ? CONTROLS_BUT_NEWLINE : CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** "task <id> (<type>)": the prefix of every log line about one task. */
export function taskLabel(task: { taskId: string; type: string }): string {
  return `task ${task.taskId} (${task.type})`;
}

/** Says a failure once when it starts and once when it ends: a poll or a scrape that fails every second must not log each time. */
export class OutageLog {
  private failing = false;

  constructor(private readonly logger: LibraryLogger) {}

  failed(message: string): void {
    if (!this.failing) this.logger.warn(message);
    this.failing = true;
  }

  worked(message: string): void {
    if (this.failing) this.logger.log(message);
    this.failing = false;
  }
}
