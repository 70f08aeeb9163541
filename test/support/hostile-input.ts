/**
 * Generators of hostile input for the property-based contract suite
 * (test/queue-contract.properties.spec.ts), and the reference oracle the library's
 * behaviour is checked against. Nothing here imports the library: the rules
 * are written down independently of its code.
 */
import fc from 'fast-check';

// ---- the rules, as an oracle -------------------------------------------------

/** Keys (task id, type, store key): at most this many characters (code points, as MySQL's and PostgreSQL's varchar count them). */
export const MAX_KEY_UNITS = 191;
/** Objects/arrays nested deeper than this are refused (MariaDB's JSON_VALID fails from 32). */
export const MAX_DEPTH = 31;
export const MiB = 1_048_576;

export const isWellFormed = (s: string): boolean => s.isWellFormed();

/** Whether `s` is an acceptable key: non-empty, ≤ 191 code points, no NUL, no lone surrogate (a type also not only whitespace). */
export function keyOk(s: string, kind: 'taskId' | 'type' | 'key'): boolean {
  if (s.length === 0 || [...s].length > MAX_KEY_UNITS || s.includes('\0') || !isWellFormed(s)) return false;
  return kind !== 'type' || s.trim() !== '';
}

/** What a stored error message must read: NUL and lone surrogates replaced by U+FFFD. */
export const storedMessage = (message: string): string => message.replace(/\0/g, '\uFFFD').toWellFormed();

export type Verdict =
  | { ok: true; normal: unknown; bytes: number }
  | {
      ok: false;
      /** The name of the whole value ('params', 'result', 'value'). */
      root: string;
      /** Fields (paths) an error may name exactly. */
      fields: Set<string>;
      /** Nesting too deep or a cycle: any path under the root may be named (where the walk gives up depends on its order). */
      anyPathUnderRoot: boolean;
      tooLarge: boolean;
      why: string[];
    };

/**
 * The reference normalisation of a JSON value named `root` ('params',
 * 'result', 'value'): JSON.parse(JSON.stringify(v)), refused when it holds a
 * function, symbol, BigInt, cycle, a lone surrogate in a string or key,
 * nesting deeper than 31, or is more than `maxBytes` bytes of JSON.
 * `undefined` stands for `fallback` (params: {}).
 */
export function judge(raw: unknown, root: string, maxBytes: number, fallback: unknown = null): Verdict {
  if (raw === undefined) return { ok: true, normal: fallback, bytes: Buffer.byteLength(JSON.stringify(fallback)) };
  const fields = new Set<string>();
  const why: string[] = [];
  let anyPathUnderRoot = false;
  const name = (path: string[]): string => [root, ...path].join('.');
  const walk = (value0: unknown, key: string, path: string[], ancestors: object[]): void => {
    let value = value0;
    if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
      value = (value as { toJSON(k: string): unknown }).toJSON(key);
    }
    switch (typeof value) {
      case 'string':
        if (!isWellFormed(value)) {
          fields.add(name(path));
          why.push(`lone surrogate at ${name(path)}`);
        }
        return;
      case 'function':
      case 'symbol':
      case 'bigint':
        fields.add(name(path));
        why.push(`${typeof value} at ${name(path)}`);
        return;
      case 'number':
      case 'boolean':
      case 'undefined':
        return;
    }
    if (value === null) return;
    const object = value as Record<string, unknown>;
    if (ancestors.includes(object)) {
      fields.add(name(path));
      anyPathUnderRoot = true;
      why.push(`cycle at ${name(path)}`);
      return;
    }
    if (ancestors.length >= MAX_DEPTH) {
      anyPathUnderRoot = true;
      why.push(`deeper than ${MAX_DEPTH} at ${name(path)}`);
      return;
    }
    ancestors.push(object);
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) walk(object[i], String(i), [...path, String(i)], ancestors);
    } else {
      for (const k of Object.keys(object)) {
        if (!isWellFormed(k)) {
          fields.add(name(path));
          fields.add(name([...path, k]));
          why.push(`lone surrogate in the key ${JSON.stringify(k)} at ${name(path)}`);
        }
        walk(object[k], k, [...path, k], ancestors);
      }
    }
    ancestors.pop();
  };
  walk(raw, '', [], []);
  let json: string | undefined;
  try {
    json = JSON.stringify(raw);
  } catch {
    json = undefined; // a cycle or a BigInt: already named above
  }
  const bytes = json === undefined ? 0 : Buffer.byteLength(json);
  const tooLarge = bytes > maxBytes;
  if (tooLarge) {
    fields.add(root);
    why.push(`${bytes} bytes > ${maxBytes}`);
  }
  if (why.length) return { ok: false, root, fields, anyPathUnderRoot, tooLarge, why };
  if (json === undefined) return { ok: true, normal: fallback, bytes: Buffer.byteLength(JSON.stringify(fallback)) };
  return { ok: true, normal: JSON.parse(json) as unknown, bytes };
}

/** Whether `field` (as an error names it) is one the verdicts allow; a batch may prefix it (`inputs[2].params.a`). */
export function fieldAllowed(field: string, allowed: Iterable<string>, roots: Iterable<string> = []): boolean {
  const matches = (f: string): boolean => field === f || field.endsWith(`.${f}`);
  for (const f of allowed) if (matches(f)) return true;
  for (const root of roots) if (matches(root) || new RegExp(`(^|\\.)${root}\\.`).test(field)) return true;
  return false;
}

// ---- the hostile alphabet ----------------------------------------------------------

/** Key names BullMQ keeps beside its jobs under `<prefix>:<queue>:`. */
export const BULLMQ_KEYS = ['delayed', 'meta', 'wait', 'events', 'paused', 'id', 'stalled', 'limiter', 'active', 'completed', 'failed', 'prioritized', 'marker', 'pc', 'de', 'repeat'];
const LONE = ['\ud800', '\udbff', '\udc00', '\udfff', '\ud83d'];
const CONTROL = ['\0', '\x01', '\x07', '\b', '\t', '\n', '\r\n', '\x1b', '\x7f', '\x85', '\u2028', '\u2029', '\ufeff', '\uffff', '\ufffd'];
const SPACES = [' ', '  ', '\u00a0', '\u3000', '\u200b', '\u2003'];
const CASE_AND_WIDTH = [
  'Invoice-42', 'invoice-42', 'INVOICE-42', 'Ｉｎｖｏｉｃｅ－４２', 'ｉｎｖｏｉｃｅ-42',
  'ß', 'ss', 'SS', 'ẞ', 'ı', 'I', 'İ', 'i', 'é', 'e\u0301', 'É', 'ﬁ', 'fi', 'Å', '\u212b', 'Ω', '\u2126', 'ǅ', 'Ǆ', 'ǆ', 'K', '\u212a', 'a', 'A', 'ａ', 'Ａ',
];
const ASTRAL = ['😀', '👍🏽', '𝕏', '𝒜', '\u{10ffff}', '🏳️‍🌈', '𠜎', '🀄'];
const PUNCT = [':', '::', '%', '%3A', '%25', '%i', '.', '/', '\\', '*', '?', '[', ']', '{', '}', "'", '"', '`', '$1', ';--', '%s', '~', '-', '_', ',', '#', '@'];
const NUMERIC = ['0', '1', '42', '-1', '007', '1e3', '9007199254740993'];
const NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'length', 'null', 'undefined', 'true'];

type Weighted<T> = { weight: number; arbitrary: fc.Arbitrary<T> };
/** fc.oneof over the entries of non-zero weight. */
function weighted<T>(...entries: Array<Weighted<T>>): fc.Arbitrary<T> {
  const kept = entries.filter((e) => e.weight > 0);
  return fc.oneof(...kept);
}

/** One piece of a hostile string: join a few. `lone` adds lone surrogates, `nul` NUL (the other control characters are always in). */
function pieces({ lone, nul }: { lone: boolean; nul: boolean }): fc.Arbitrary<string> {
  const control = nul ? CONTROL : CONTROL.filter((c) => c !== '\0');
  return weighted<string>(
    { weight: 3, arbitrary: fc.constantFrom(...BULLMQ_KEYS) },
    { weight: 4, arbitrary: fc.constantFrom(...CASE_AND_WIDTH) },
    { weight: 2, arbitrary: fc.constantFrom(...SPACES) },
    { weight: 2, arbitrary: fc.constantFrom(...ASTRAL) },
    { weight: lone ? 1 : 0, arbitrary: fc.constantFrom(...LONE) },
    { weight: 2, arbitrary: fc.constantFrom(...control) },
    { weight: 2, arbitrary: fc.constantFrom(...PUNCT) },
    { weight: 1, arbitrary: fc.constantFrom(...NUMERIC) },
    { weight: 1, arbitrary: fc.constantFrom(...NAMES) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 6 }) },
    // any code point (astral ones too); U+0000 only where NUL is wanted
    { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }).filter((s) => nul || !s.includes('\0')) },
  );
}

/** A hostile string of a few pieces. */
export function hostileString(options: { lone: boolean; nul: boolean; minPieces?: number; maxPieces?: number }): fc.Arbitrary<string> {
  return fc.array(pieces(options), { minLength: options.minPieces ?? 0, maxLength: options.maxPieces ?? 5 }).map((a) => a.join(''));
}

/**
 * A string of exactly `total` characters (code points, or UTF-16 units for
 * `units`) near the 191 limit (before a tag of `reserve` units is added),
 * ending on a chosen piece: an emoji that straddles the limit, a trailing
 * space, a lone half of a pair (cut by the slice), …
 */
function longKey(reserve: number): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.integer({ min: MAX_KEY_UNITS - 4, max: MAX_KEY_UNITS + 3 }),
      fc.array(pieces({ lone: false, nul: false }), { minLength: 1, maxLength: 6 }),
      fc.constantFrom('a', '😀', 'é', ' ', 'Ｚ', '\ud83d'),
      fc.boolean(),
    )
    .map(([total, parts, last, units]) => {
      const body = parts.join('') || 'x';
      const want = Math.max(1, total - reserve - (units ? last.length : 1));
      if (units) {
        let s = body;
        while (s.length < want) s += body;
        return s.slice(0, want) + last;
      }
      const chars = [...body];
      const out: string[] = [];
      while (out.length < want) out.push(...chars);
      return out.slice(0, want).join('') + last;
    });
}

/** Keys: mostly short hostile strings, some near 191 units, some empty or blank; `reserve` units are left for a tag. */
export function hostileKey(reserve = 0): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 8, arbitrary: hostileString({ lone: false, nul: false, minPieces: 1, maxPieces: 6 }) },
    { weight: 3, arbitrary: hostileString({ lone: true, nul: true, minPieces: 1, maxPieces: 6 }) },
    { weight: 3, arbitrary: longKey(reserve) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', '   ', '\t', '\u3000', '\0', '\ud800', 'ok\0') },
  );
}

/** A key that every rule accepts (for the batches of near-identical ids). */
export const goodKeyBase = hostileString({ lone: false, nul: false, minPieces: 1, maxPieces: 4 }).filter((s) => s.trim() !== '' && s.length <= 120 && !s.includes('\0') && isWellFormed(s));

/** Fullwidth forms of printable ASCII (U+FF01..U+FF5E), space → U+3000. */
export const fullwidth = (s: string): string =>
  s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).replace(/ /g, '\u3000');

/** Ids that differ only by case, width, surrounding spaces, an emoji, composition, … from `base`. */
export function variantsOf(base: string): string[] {
  return [
    base,
    base.toUpperCase(),
    base.toLowerCase(),
    fullwidth(base),
    `${base} `,
    `${base}  `,
    ` ${base}`,
    `${base}\t`,
    `${base}\u00a0`,
    `${base}😀`,
    `${base}😁`,
    base.normalize('NFD'),
    base.normalize('NFC'),
    base.normalize('NFKC'),
    base.replace(/ss/g, 'ß'),
    base.replace(/i/g, 'ı'),
  ];
}

// ---- JSON-ish values -------------------------------------------------------

const NUMBERS = [NaN, Infinity, -Infinity, -0, 0, 5e-324, 1e21, 1.7976931348623157e308, -1.5e-7, 0.1 + 0.2, 2 ** 53 + 2, -(2 ** 63)];

/** A leaf: hostile strings (NUL included), NaN/±Infinity/-0, undefined, Dates (invalid too), …; `bad` adds functions, symbols, BigInts, lone surrogates. */
function leaf(bad: boolean): fc.Arbitrary<unknown> {
  return weighted<unknown>(
    { weight: 12, arbitrary: hostileString({ lone: false, nul: true }) },
    { weight: 4, arbitrary: fc.double() },
    { weight: 4, arbitrary: fc.constantFrom(...NUMBERS) },
    { weight: 4, arbitrary: fc.integer() },
    { weight: 2, arbitrary: fc.boolean() },
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.date({ noInvalidDate: false }) },
    { weight: bad ? 1 : 0, arbitrary: fc.constantFrom<unknown>(() => 1, Symbol('s'), BigInt(2) ** BigInt(70)) },
    { weight: bad ? 1 : 0, arbitrary: hostileString({ lone: true, nul: true, minPieces: 1 }).filter((s) => !isWellFormed(s)) },
  );
}

const objectKey = (bad: boolean): fc.Arbitrary<string> =>
  weighted<string>(
    { weight: 24, arbitrary: hostileString({ lone: false, nul: true, maxPieces: 3 }) },
    { weight: 4, arbitrary: fc.constantFrom(...NAMES) },
    { weight: bad ? 1 : 0, arbitrary: fc.constantFrom(...LONE).map((s) => `k${s}`) },
  );

/** A JSON-ish tree of hostile leaves; `bad` mixes in what must be refused. */
export function jsonish(bad: boolean): fc.Arbitrary<unknown> {
  const tree = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown> }>((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf(bad), tie('array'), tie('object')),
    array: fc.oneof(fc.array(tie('value'), { maxLength: 4 }), fc.sparseArray(tie('value'), { maxLength: 4 })),
    object: fc.dictionary(objectKey(bad), tie('value'), { maxKeys: 4 }),
  }));
  return tree.value;
}

/** `[ { k: [ … v … ] } ]`: containers nested `depth` levels (the top one counted), alternating arrays and objects. */
export function nest(depth: number, inner: unknown, key: string): unknown {
  let v = inner;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { [key]: v };
  return v;
}

/** Values nested near the 31-level limit, and past it. */
export function deepValue(): fc.Arbitrary<{ depth: number; value: unknown }> {
  return fc
    .tuple(fc.integer({ min: MAX_DEPTH - 3, max: MAX_DEPTH + 3 }), leaf(false), hostileString({ lone: false, nul: true, maxPieces: 2 }))
    .map(([depth, inner, key]) => ({ depth, value: nest(depth, inner, key) }));
}

/** A deep copy of the plain objects and arrays of `v` (leaves kept): generated values are shared between runs and must not be changed. */
function copyTree(v: unknown): unknown {
  if (Array.isArray(v)) {
    const out: unknown[] = new Array(v.length);
    v.forEach((item, i) => (out[i] = copyTree(item)));
    return out;
  }
  if (v === null || typeof v !== 'object' || v instanceof Date) return v;
  const out: Record<string, unknown> = Object.getPrototypeOf(v) === null ? Object.create(null) : {};
  for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: copyTree((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
  return out;
}

/** A copy of `value` with a cycle: the container `pick` selects gets a child pointing back to one of its ancestors (or itself). */
export function withCycle(value0: unknown, pick: number, key: string): unknown {
  const value = copyTree(value0);
  const containers: Array<{ node: Record<string, unknown>; ancestors: object[] }> = [];
  const walk = (v: unknown, ancestors: object[]): void => {
    if (v === null || typeof v !== 'object' || v instanceof Date || ancestors.includes(v)) return;
    containers.push({ node: v as Record<string, unknown>, ancestors });
    for (const child of Object.values(v)) walk(child, [...ancestors, v]);
  };
  walk(value, []);
  if (!containers.length) return value;
  const { node, ancestors } = containers[pick % containers.length];
  const target = [...ancestors, node][pick % (ancestors.length + 1)];
  if (Array.isArray(node)) node.push(target);
  else Object.defineProperty(node, key || 'self', { value: target, enumerable: true, writable: true, configurable: true });
  return value;
}

/** Params for a push: mostly objects, sometimes arrays, primitives, undefined (none), a shared (not cyclic) sub-object, a cycle, deep nesting. */
export function hostileParams(bad: boolean): fc.Arbitrary<unknown> {
  const object = fc.dictionary(objectKey(bad), jsonish(bad), { maxKeys: 5 });
  return weighted<unknown>(
    { weight: 8, arbitrary: object },
    { weight: 1, arbitrary: jsonish(bad) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: jsonish(false).map((shared) => ({ a: shared, b: [shared, { c: shared }] })) },
    { weight: 2, arbitrary: deepValue().map(({ value }) => ({ deep: value })) },
    { weight: bad ? 1 : 0, arbitrary: fc.tuple(object, fc.nat(), hostileString({ lone: false, nul: false, maxPieces: 2 })).map(([o, pick, key]) => withCycle({ o }, pick, key)) },
  );
}

/**
 * A value of about `target` bytes of JSON (from `limit - 8` to `limit + 8`),
 * built from a repeated hostile unit: described compactly, so a failing
 * case prints its recipe, not a megabyte. `make()` builds it.
 */
export interface SizedRecipe {
  unit: string;
  target: number;
}

export function sizedRecipe(limit: number): fc.Arbitrary<SizedRecipe> {
  return fc.record({
    unit: fc.constantFrom('x', 'é', '😀', '\0', '"', '\\', 'ｘ', '\u2028', 'ab\n'),
    target: fc.integer({ min: limit - 8, max: limit + 8 }),
  });
}

/** `{ blob: s }` of exactly `target` bytes of JSON. */
export function makeSized({ unit, target }: SizedRecipe): { blob: string } {
  const bytesOf = (s: string): number => Buffer.byteLength(JSON.stringify({ blob: s }));
  const empty = bytesOf('');
  const unitBytes = bytesOf(unit) - empty;
  let s = unit.repeat(Math.max(0, Math.floor((target - empty) / unitBytes) - 1));
  while (bytesOf(s) < target) s += 'y';
  if (bytesOf(s) !== target) throw new Error(`sized value of ${bytesOf(s)} bytes, wanted ${target}`);
  return { blob: s };
}
