import { ValidationPipe } from '@nestjs/common';

/** Unknown properties are refused (not silently dropped): a typo such as `delay` for `delayMs` should be a 400, not ignored. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true });
}

/**
 * Copies `value` without its undefined properties. DTO classes compile with
 * define semantics (target ES2022), so every optional field exists as
 * `undefined`; the library reads "key present" as "field given".
 */
export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
