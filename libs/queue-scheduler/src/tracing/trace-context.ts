/**
 * The W3C trace context a task carries from its push to its tries, as one
 * string: the `traceparent` (version 00), then `;` and the `tracestate` when
 * the pushing span had one. Nothing here knows OpenTelemetry: every backend
 * stores the string as it is (a column, a field of the job, a property of
 * the entry), and it is checked on the way in and on the way out, so a
 * malformed value is dropped, never stored or linked to.
 */

/** `00-` trace id `-` span id `-` flags. */
const TRACEPARENT_LENGTH = 55;
/** What OpenTelemetry's TraceState keeps (it drops a longer header whole); a longer one is dropped here too. */
export const MAX_TRACE_STATE_LENGTH = 512;
/** The longest stored value: the `task_queue.trace_context` column's length. */
export const MAX_TRACE_CONTEXT_LENGTH = TRACEPARENT_LENGTH + 1 + MAX_TRACE_STATE_LENGTH;
const MAX_TRACE_STATE_MEMBERS = 32;

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
/** W3C trace-context list-member: a simple key or tenant@system, `=`, a value of printable ASCII without `,` or `=`, not ending in a space. */
const TRACE_STATE_MEMBER = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const ALL_ZEROS = /^0+$/;

/** A stored trace context read back and checked: what a span link needs. */
export interface ParsedTraceContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
  /** The tracestate header, when there was a valid one. */
  traceState?: string;
}

/** Whether `value` is a W3C tracestate header OpenTelemetry would keep: at most 32 well-formed members, 512 characters. */
export function isValidTraceState(value: string): boolean {
  if (value.length === 0 || value.length > MAX_TRACE_STATE_LENGTH) return false;
  const members = value.split(',');
  if (members.length > MAX_TRACE_STATE_MEMBERS) return false;
  // optional white space around the commas is allowed by the header's grammar, and dropped when stored
  return members.every((member) => TRACE_STATE_MEMBER.test(member.trim()));
}

const validIds = (traceId: string, spanId: string): boolean =>
  TRACE_ID.test(traceId) && SPAN_ID.test(spanId) && !ALL_ZEROS.test(traceId) && !ALL_ZEROS.test(spanId);

/**
 * The string stored with a task for the span `traceId`/`spanId`, or
 * undefined when the ids are not valid (an invalid span context links to
 * nothing). A tracestate that is not well formed is left out, the
 * traceparent kept.
 */
export function formatTraceContext(traceId: string, spanId: string, traceFlags: number, traceState?: string): string | undefined {
  if (!validIds(traceId, spanId) || !Number.isInteger(traceFlags) || traceFlags < 0 || traceFlags > 0xff) return undefined;
  const parent = `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
  if (traceState === undefined || !isValidTraceState(traceState)) return parent;
  return `${parent};${traceState.split(',').map((m) => m.trim()).join(',')}`;
}

/**
 * A stored trace context read back: undefined for none and for anything
 * malformed (a value written by hand, or by another program), which then
 * links to nothing. A malformed tracestate alone is dropped.
 */
export function parseTraceContext(value: unknown): ParsedTraceContext | undefined {
  if (typeof value !== 'string' || value.length < TRACEPARENT_LENGTH || value.length > MAX_TRACE_CONTEXT_LENGTH) return undefined;
  const match = TRACEPARENT.exec(value.slice(0, TRACEPARENT_LENGTH));
  if (!match || !validIds(match[1], match[2])) return undefined;
  const parsed: ParsedTraceContext = { traceId: match[1], spanId: match[2], traceFlags: parseInt(match[3], 16) };
  if (value.length === TRACEPARENT_LENGTH) return parsed;
  if (value[TRACEPARENT_LENGTH] !== ';') return undefined;
  const state = value.slice(TRACEPARENT_LENGTH + 1);
  if (isValidTraceState(state)) parsed.traceState = state;
  return parsed;
}
