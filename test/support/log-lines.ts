import type { LoggerService } from '@nestjs/common';

/** Every line the app logs at log, warn and error level, as an app's own logger receives them. */
export class LogLines implements LoggerService {
  readonly lines: string[] = [];
  log(message: unknown): void {
    this.lines.push(String(message));
  }
  warn(message: unknown): void {
    this.lines.push(String(message));
  }
  error(message: unknown): void {
    this.lines.push(String(message));
  }
}
