/**
 * The one normalisation of every JSON value the library stores (task params,
 * handler results, public-store values), the same on every backend: a value
 * becomes what a JSON round trip gives (NaN and ±Infinity → null, undefined
 * object keys dropped, undefined array items → null, a Date → its ISO string,
 * -0 → 0), within what the strictest supported database stores. What it cannot
 * keep is refused, naming the path, before anything is written.
 */

/**
 * Objects and arrays nested deeper than this are refused: MariaDB's JSON_VALID
 * (the CHECK on its JSON columns) fails from 32 levels, and a multi-row insert
 * used to lose such a row. Far below the depth that overflows the stack.
 */
export const MAX_JSON_DEPTH = 31;

/** Builds the typed error of the caller (InvalidTaskError for params, InvalidArgumentError for the store, …). */
export type RefuseValue = (field: string, message: string) => Error;

export interface JsonValue {
  /** The normalised value: a fresh copy, so later changes by the caller do not reach the stored task. */
  value: unknown;
  /** `value` as JSON text, what the database backends store. */
  json: string;
}

/**
 * Normalises `raw` (named `root` in messages, e.g. 'params'); refuses with
 * `refuse` a value JSON cannot represent, nesting past MAX_JSON_DEPTH, a lone
 * surrogate (MariaDB's JSON refuses the escape, and no UTF-8 column can hold
 * it), or JSON text longer than `maxBytes` (`limitName` names the option).
 * `undefined` stands for "none" and becomes `fallback`.
 */
export function normalizeJson(
  raw: unknown,
  root: string,
  maxBytes: number,
  limitName: string,
  refuse: RefuseValue,
  fallback: unknown = null,
  refuseSize: RefuseValue = refuse,
): JsonValue {
  if (raw === undefined) return { value: fallback, json: JSON.stringify(fallback) };
  check(raw, '', [root], [], refuse);
  let json: string | undefined;
  try {
    json = JSON.stringify(raw);
  } catch (err) {
    // a toJSON or a getter that throws
    throw refuse(root, `${root} must be JSON-serializable (${(err as Error).message})`);
  }
  if (json === undefined) return { value: fallback, json: JSON.stringify(fallback) };
  // UTF-8 takes at most 3 bytes per UTF-16 unit: most values need no count
  if (json.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(json);
    if (bytes > maxBytes) throw refuseSize(root, `${root} is ${bytes} bytes as JSON, more than ${limitName} (${maxBytes})`);
  }
  // The parse is the copy: it gives exactly the round trip every durable backend's reader sees.
  return { value: JSON.parse(json) as unknown, json };
}

/**
 * Throws (through `refuse`) naming the path of the first value that cannot be
 * kept. `path` and `ancestors` are the current path's keys and objects; the
 * path string is built only for an error. It walks the value rather than giving
 * JSON.stringify a replacer: a replacer is a JS call from C++ per value.
 */
function check(raw: unknown, key: string, path: string[], ancestors: object[], refuse: RefuseValue): void {
  let value = raw;
  // what JSON.stringify serialises is what toJSON returns (a Date becomes its ISO string)
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    try {
      value = (value as { toJSON(key: string): unknown }).toJSON(key);
    } catch (err) {
      throw bad(path, `must be JSON-serializable (its toJSON threw: ${(err as Error).message})`, refuse);
    }
  }
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw bad(path, 'must not hold a lone surrogate (half of a UTF-16 pair): no database stores it', refuse);
      return;
    case 'number':
    case 'boolean':
    case 'undefined':
      return;
    case 'function':
      throw bad(path, 'must be JSON-serializable (a function is not)', refuse);
    case 'symbol':
      throw bad(path, 'must be JSON-serializable (a symbol is not)', refuse);
    case 'bigint':
      throw bad(path, `must be JSON-serializable (a BigInt is not), got ${value}n`, refuse);
  }
  if (value === null) return;
  if (value instanceof Map || value instanceof Set) throw bad(path, 'must be JSON-serializable (use a plain object or array)', refuse);
  const object = value as Record<string, unknown>;
  // an object met again on its own path is a cycle; met again elsewhere it is only shared, which JSON allows
  if (ancestors.includes(object)) throw bad(path, 'must be JSON-serializable (it contains a circular reference)', refuse);
  if (ancestors.length >= MAX_JSON_DEPTH) throw bad(path, `nests objects/arrays deeper than ${MAX_JSON_DEPTH} levels (MariaDB's JSON limit)`, refuse);
  ancestors.push(object);
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      path.push(String(i));
      check(object[i], path[path.length - 1], path, ancestors, refuse);
      path.pop();
    }
  } else {
    for (const k of Object.keys(object)) {
      path.push(k);
      if (!k.isWellFormed()) throw bad(path, 'is a key with a lone surrogate (half of a UTF-16 pair): no database stores it', refuse);
      check(object[k], k, path, ancestors, refuse);
      path.pop();
    }
  }
  ancestors.pop();
}

function bad(path: string[], rule: string, refuse: RefuseValue): Error {
  const field = path.join('.');
  return refuse(field, `${field} ${rule}`);
}

/**
 * Checks a key the databases compare (task id, type, store key, schedule id):
 * PostgreSQL's text cannot hold NUL, and a lone surrogate reaches MySQL as '?'
 * (two ids would meet). Returns the rule it breaks, or null.
 */
export function keyProblem(value: unknown, maxLength: number): string | null {
  if (typeof value !== 'string' || value === '') return `must be a non-empty string of at most ${maxLength} characters`;
  if (value.length > maxLength) return `must be a non-empty string of at most ${maxLength} characters (it has ${value.length})`;
  if (value.includes('\0')) return 'must not contain a NUL character';
  if (!value.isWellFormed()) return 'must not contain a lone surrogate (half of a UTF-16 pair)';
  return null;
}

/**
 * A text (an error message) as every database stores it: NUL and lone
 * surrogates become U+FFFD, and it is cut to `max` UTF-16 units without
 * splitting a pair. A text that needs none of it is returned as is.
 */
export function storableText(text: string, max: number): string {
  let out = text.length > max ? text.slice(0, max) : text;
  if (out.includes('\0')) out = out.replace(/\0/g, '\uFFFD');
  return out.isWellFormed() ? out : out.toWellFormed();
}
