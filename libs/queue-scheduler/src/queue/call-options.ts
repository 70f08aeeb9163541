import { describeValue, InvalidArgumentError } from '../errors/errors';

/**
 * The options object of a call (`cancelTask`, `onTaskFinished`, `listSchedules`): undefined and null read as none,
 * anything but a plain object is refused naming `field`, before the call does anything. Its fields are the caller's
 * to check.
 */
export function callOptions(value: unknown, field: string, example: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new InvalidArgumentError(field, `${field} must be an object such as ${example}, got ${describeValue(value)}`);
  return value as Record<string, unknown>;
}
