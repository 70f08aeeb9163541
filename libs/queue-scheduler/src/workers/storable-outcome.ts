import { isNativeError } from 'node:util/types';
import { InvalidResultError, ResultTooLargeError } from '../errors/errors';
import { normalizeJson, storableText } from '../queue/json-value';

/** Longest error message stored with a task (the database's error_message is TEXT: 64 KiB on MySQL). */
export const MAX_ERROR_LENGTH = 8000;

const refuseResult = (field: string, message: string): Error => new InvalidResultError(field, message);
const refuseResultSize = (field: string, message: string): Error => new ResultTooLargeError(field, message);

/**
 * The handler's value as every backend stores it (see normalizeJson); null
 * and undefined are "no result". Plain scalars skip the walk: most handlers
 * return nothing or a number, and this runs once per task.
 */
export function storableResult(value: unknown, maxBytes: number): unknown {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  // NaN and ±Infinity become null in JSON, and null is "no result"
  if (typeof value === 'number') return Number.isFinite(value) ? value + 0 : undefined;
  return normalizeJson(value, 'result', maxBytes, 'queue.maxResultBytes', refuseResult, undefined, refuseResultSize);
}

/**
 * What a handler threw, as an Error whose message every backend can store:
 * NUL and lone surrogates replaced (PostgreSQL refused the whole batched
 * write for one NUL), cut to MAX_ERROR_LENGTH. The thrown Error itself when
 * its message needs none of it.
 */
export function storableError(raw: unknown): Error {
  let error: Error;
  // an Error of another realm (node:vm, a Jest sandbox) fails instanceof, and its fields are hidden from JSON ('{}')
  if (raw instanceof Error || isNativeError(raw)) error = raw as Error;
  else {
    error = new Error(thrownText(raw));
    // a thrown value has no stack: the one made here would name the library's frames, not the handler's
    error.stack = undefined;
  }
  const message = typeof error.message === 'string' ? error.message : String(error.message);
  const text = storableText(message, MAX_ERROR_LENGTH);
  if (text === error.message) return error;
  const clean = new Error(text);
  clean.name = error.name;
  clean.stack = error.stack === undefined ? undefined : storableText(error.stack, MAX_ERROR_LENGTH * 4);
  return clean;
}

/** A thrown value that is not an Error, as text that keeps what it said ('[object Object]' kept nothing). */
function thrownText(raw: unknown): string {
  if (typeof raw === 'string') return raw;
  if (raw === undefined || raw === null) return `the handler threw ${String(raw)}`;
  try {
    const json = typeof raw === 'object' ? JSON.stringify(raw) : undefined;
    return json ?? String(raw);
  } catch {
    // a circular or BigInt-holding object, or one whose toString throws
    return Object.prototype.toString.call(raw);
  }
}
