/** The most characters of a string value an error message shows. */
const MAX_SHOWN_CHARS = 200;

/** Names a value for a message: strings quoted, everything else as JSON-ish text. */
export function describeValue(value: unknown): string {
  // control characters escaped: a NUL or a newline inside a message would hide or split it in a log
  // and cut: a 1 MB id from a request would otherwise be the whole message, in every log line that shows it
  if (typeof value === 'string') {
    let shown = value.length > MAX_SHOWN_CHARS ? value.slice(0, MAX_SHOWN_CHARS) : value;
    if (shown !== value && /[\ud800-\udbff]$/.test(shown)) shown = shown.slice(0, -1); // not half an emoji at the cut (U+FFFD)
    const text = `'${shown.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}'`;
    return shown === value ? text : `${text}... (${value.length - (value.match(/[\ud800-\udbff][\udc00-\udfff]/g)?.length ?? 0)} characters)`;
  }
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a Symbol';
  // JSON would show an invalid Date as null, and a boxed primitive as the primitive it is not
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid Date' : value.toISOString();
  if (value instanceof Number || value instanceof String || value instanceof Boolean) return `new ${value.constructor.name}(${describeValue(value.valueOf())})`;
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    // JSON cannot show it: it contains itself (a flow node that is its own child) or a BigInt; its tag said neither
    return `${Array.isArray(value) ? 'an array' : 'an object'} JSON cannot show (it contains itself, or a BigInt)`;
  }
}
