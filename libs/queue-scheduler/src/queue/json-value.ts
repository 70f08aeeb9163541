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

/** What a key of an object maps to when JSON would drop it (an undefined value). */
const DROP = Symbol('drop');

/** Running state of one walk; `bytes` is an upper bound of the JSON's UTF-8 size. */
interface Walk {
  path: string[];
  ancestors: object[];
  bytes: number;
  refuse: RefuseValue;
}

/**
 * Normalises `raw` (named `root` in messages, e.g. 'params') to a fresh copy,
 * so later changes by the caller reach no stored task. Refuses with `refuse` a
 * value JSON cannot represent, nesting past MAX_JSON_DEPTH, a lone surrogate
 * (MariaDB's JSON refuses the escape, and no UTF-8 column can hold it); with
 * `refuseSize` JSON text longer than `maxBytes` (`limitName` names the
 * option). `undefined` stands for "none" and becomes `fallback`. The copy is
 * made by the walk that checks: a stringify and a parse per push cost twice as
 * much, and the memory backend needs no JSON text at all.
 */
export function normalizeJson(
  raw: unknown,
  root: string,
  maxBytes: number,
  limitName: string,
  refuse: RefuseValue,
  fallback: unknown = null,
  refuseSize: RefuseValue = refuse,
): unknown {
  if (raw === undefined) return fallback;
  const flat = copyFlat(raw, maxBytes);
  if (flat !== undefined) return flat;
  const walk: Walk = { path: [root], ancestors: [], bytes: 0, refuse };
  const value = copy(raw, '', walk);
  if (value === DROP) return fallback;
  // the bound counts every character as a six-byte escape: only a value near the limit is measured exactly
  if (walk.bytes > maxBytes) {
    const bytes = Buffer.byteLength(JSON.stringify(value));
    if (bytes > maxBytes) throw refuseSize(root, `${root} is ${bytes} bytes as JSON, more than ${limitName} (${maxBytes})`);
  }
  return value;
}

/**
 * A fresh empty plain object of 24 bytes: a `{}` literal reserves four
 * property slots in the object (56 bytes), and the empty params of a queued
 * task live (and are copied by each young GC they survive) until it ends.
 * Its prototype and constructor are a literal's; a key added later goes to a
 * property store of its own, as a fifth key of a literal would.
 */
export function emptyObject(): Record<string, unknown> {
  return new (EmptyObject as unknown as new () => Record<string, unknown>)();
}

function EmptyObject(): void {}
EmptyObject.prototype = Object.prototype;

/** Keys a flat object may have for the quick copy: more goes the general way. */
const MAX_FLAT_KEYS = 16;

/**
 * The common case made cheap: a plain object of a few keys whose values are
 * all primitives JSON keeps (no walk state, no path, no key array). Returns
 * undefined for anything else, which then takes the general walk; its result
 * is the same as the walk's.
 */
function copyFlat(raw: unknown, maxBytes: number): Record<string, unknown> | undefined {
  if (raw === null || typeof raw !== 'object' || Object.getPrototypeOf(raw) !== Object.prototype) return undefined;
  const object = raw as Record<string, unknown>;
  // made at the first key kept: empty params (the common push) end up in a 24-byte emptyObject()
  let out: Record<string, unknown> | undefined;
  let keys = 0;
  let bytes = 2;
  for (const k in object) {
    if (++keys > MAX_FLAT_KEYS || k === '__proto__' || k === 'toJSON' || !Object.prototype.hasOwnProperty.call(object, k)) return undefined;
    const value = object[k];
    switch (typeof value) {
      case 'string':
        bytes += value.length * 6 + 2;
        (out ??= {})[k] = value;
        break;
      case 'number':
        bytes += 24;
        (out ??= {})[k] = Number.isFinite(value) ? value + 0 : null;
        break;
      case 'boolean':
        bytes += 5;
        (out ??= {})[k] = value;
        break;
      case 'undefined':
        // JSON drops the key, but the walk refuses a lone surrogate in it all the same: so must this copy
        if (!k.isWellFormed()) return undefined;
        continue;
      default:
        if (value !== null) return undefined;
        bytes += 4;
        (out ??= {})[k] = null;
    }
    bytes += k.length * 6 + 3;
  }
  // lone surrogates, in keys or values, and a size near the limit are the general walk's to judge and to name
  if (bytes > maxBytes) return undefined;
  if (out === undefined) return emptyObject();
  for (const k in out) {
    const value = out[k];
    if (!k.isWellFormed() || (typeof value === 'string' && !value.isWellFormed())) return undefined;
  }
  return out;
}

/**
 * The JSON round trip of `raw`, made directly; throws (through `walk.refuse`)
 * naming the path of the first value that cannot be kept. The path string is
 * built only for an error.
 */
function copy(raw: unknown, key: string, walk: Walk): unknown {
  let value = raw;
  if (value !== null && typeof value === 'object') {
    // what JSON.stringify serialises is what toJSON returns (a Date becomes its ISO string), and a boxed primitive's value
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
      try {
        value = (value as { toJSON(key: string): unknown }).toJSON(key);
      } catch (err) {
        throw bad(walk, `must be JSON-serializable (its toJSON threw: ${(err as Error).message})`);
      }
    } else if (value instanceof Number || value instanceof String || value instanceof Boolean) {
      value = value.valueOf();
    }
  }
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw bad(walk, 'must not hold a lone surrogate (half of a UTF-16 pair): no database stores it');
      walk.bytes += value.length * 6 + 2;
      return value;
    case 'number':
      walk.bytes += 24;
      // JSON writes -0 as 0, and NaN and the infinities as null
      return Number.isFinite(value) ? value + 0 : null;
    case 'boolean':
      walk.bytes += 5;
      return value;
    case 'undefined':
      return DROP;
    case 'function':
      throw bad(walk, 'must be JSON-serializable (a function is not)');
    case 'symbol':
      throw bad(walk, 'must be JSON-serializable (a symbol is not)');
    case 'bigint':
      throw bad(walk, `must be JSON-serializable (a BigInt is not), got ${value}n`);
  }
  walk.bytes += 4;
  if (value === null) return null;
  if (value instanceof Map || value instanceof Set) throw bad(walk, 'must be JSON-serializable (use a plain object or array)');
  if (value instanceof BigInt) throw bad(walk, 'must be JSON-serializable (a BigInt is not)');
  const object = value as Record<string, unknown>;
  const { path, ancestors } = walk;
  // an object met again on its own path is a cycle; met again elsewhere it is only shared, which JSON allows
  if (ancestors.includes(object)) throw bad(walk, 'must be JSON-serializable (it contains a circular reference)');
  if (ancestors.length >= MAX_JSON_DEPTH) throw bad(walk, `nests objects/arrays deeper than ${MAX_JSON_DEPTH} levels (MariaDB's JSON limit)`);
  ancestors.push(object);
  let out: unknown[] | Record<string, unknown>;
  if (Array.isArray(object)) {
    const list = new Array<unknown>(object.length);
    for (let i = 0; i < object.length; i++) {
      path.push(String(i));
      const item = copy(object[i], path[path.length - 1], walk);
      list[i] = item === DROP ? null : item;
      path.pop();
    }
    out = list;
  } else {
    const record: Record<string, unknown> = {};
    for (const k of Object.keys(object)) {
      path.push(k);
      if (!k.isWellFormed()) throw bad(walk, 'is a key with a lone surrogate (half of a UTF-16 pair): no database stores it');
      const item = copy(object[k], k, walk);
      path.pop();
      if (item === DROP) continue;
      walk.bytes += k.length * 6 + 3;
      // a plain assignment to '__proto__' would set the copy's prototype; JSON.parse makes it an own key
      if (k === '__proto__') Object.defineProperty(record, k, { value: item, enumerable: true, writable: true, configurable: true });
      else record[k] = item;
    }
    out = record;
  }
  ancestors.pop();
  return out;
}

function bad(walk: Walk, rule: string): Error {
  const field = walk.path.join('.');
  return walk.refuse(field, `${field} ${rule}`);
}

/**
 * Checks a key the databases compare (task id, type, store key, schedule id):
 * PostgreSQL's text cannot hold NUL, and a lone surrogate reaches MySQL as '?'
 * (two ids would meet). Returns the rule it breaks, or null.
 */
export function keyProblem(value: unknown, maxLength: number): string | null {
  if (typeof value !== 'string' || value === '') return `must be a non-empty string of at most ${maxLength} characters`;
  // characters as MySQL's and PostgreSQL's varchar count them: code points, so an emoji is one (two UTF-16 units)
  if (value.length > maxLength) {
    const characters = codePoints(value);
    if (characters > maxLength) return `must be a non-empty string of at most ${maxLength} characters (it has ${characters})`;
  }
  if (value.includes('\0')) return 'must not contain a NUL character';
  if (!value.isWellFormed()) return 'must not contain a lone surrogate (half of a UTF-16 pair)';
  return null;
}

/** Code points in `value` (a lone surrogate counts as one). */
function codePoints(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i++, n++) {
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) {
      const d = value.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  return n;
}

/**
 * A text (an error message) as every database stores it: NUL and lone
 * surrogates become U+FFFD, and it is cut to `max` UTF-16 units. A text that
 * needs none of it is returned as is.
 */
export function storableText(text: string, max: number): string {
  let out = text.length > max ? text.slice(0, max) : text;
  if (out.includes('\0')) out = out.replace(/\0/g, '\uFFFD');
  return out.isWellFormed() ? out : out.toWellFormed();
}
