import { formatTraceContext, isValidTraceState, MAX_TRACE_CONTEXT_LENGTH, parseTraceContext } from './trace-context';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const PARENT = `00-${TRACE}-${SPAN}-01`;

describe('formatTraceContext', () => {
  it('writes a version-00 traceparent, flags in two hex digits', () => {
    expect(formatTraceContext(TRACE, SPAN, 1)).toBe(PARENT);
    expect(formatTraceContext(TRACE, SPAN, 0)).toBe(`00-${TRACE}-${SPAN}-00`);
  });

  it('appends a well-formed tracestate after a semicolon, without the white space around its commas', () => {
    expect(formatTraceContext(TRACE, SPAN, 1, 'congo=t61rcWkgMzE , rojo=00f067aa0ba902b7')).toBe(`${PARENT};congo=t61rcWkgMzE,rojo=00f067aa0ba902b7`);
    expect(formatTraceContext(TRACE, SPAN, 1, 'tenant1@vendor=opaque value')).toBe(`${PARENT};tenant1@vendor=opaque value`);
  });

  it('keeps the traceparent and drops a tracestate that is not well formed', () => {
    for (const state of ['', 'Upper=1', 'k=v,', 'k=a=b', 'k=\t', 'k=\u00e9', `k=${'v'.repeat(257)}`, Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')]) {
      expect(formatTraceContext(TRACE, SPAN, 1, state)).toBe(PARENT);
    }
  });

  it('stores nothing for ids a span context may not have', () => {
    expect(formatTraceContext('0'.repeat(32), SPAN, 1)).toBeUndefined();
    expect(formatTraceContext(TRACE, '0'.repeat(16), 1)).toBeUndefined();
    expect(formatTraceContext(TRACE.toUpperCase(), SPAN, 1)).toBeUndefined();
    expect(formatTraceContext(TRACE.slice(1), SPAN, 1)).toBeUndefined();
    expect(formatTraceContext(TRACE, `${SPAN}-`, 1)).toBeUndefined();
    expect(formatTraceContext(TRACE, SPAN, 256)).toBeUndefined();
    expect(formatTraceContext(TRACE, SPAN, 1.5)).toBeUndefined();
  });

  it('never writes more than the column holds', () => {
    // 32 members of 15 characters, joined: 511 characters, the longest state kept
    const state = Array.from({ length: 32 }, (_, i) => `k${String(i).padStart(2, '0')}=${'v'.repeat(11)}`).join(',');
    expect(state.length).toBe(511);
    expect(formatTraceContext(TRACE, SPAN, 1, state)!.length).toBeLessThanOrEqual(MAX_TRACE_CONTEXT_LENGTH);
    expect(formatTraceContext(TRACE, SPAN, 1, `${state}x`.padEnd(513, 'x'))).toBe(PARENT);
  });
});

describe('parseTraceContext', () => {
  it('reads back what formatTraceContext wrote', () => {
    expect(parseTraceContext(PARENT)).toEqual({ traceId: TRACE, spanId: SPAN, traceFlags: 1 });
    expect(parseTraceContext(formatTraceContext(TRACE, SPAN, 0, 'a=1,b=2'))).toEqual({ traceId: TRACE, spanId: SPAN, traceFlags: 0, traceState: 'a=1,b=2' });
  });

  it('drops a malformed value whole', () => {
    for (const value of [
      undefined,
      null,
      42,
      '',
      PARENT.slice(0, -1),
      `01-${TRACE}-${SPAN}-01`,
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `00-${'0'.repeat(32)}-${SPAN}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE}-${SPAN}-0g`,
      `${PARENT}-extra`,
      `${PARENT},a=1`,
      `${PARENT};${'a=1,'.repeat(200)}a=1`,
    ]) {
      expect(parseTraceContext(value)).toBeUndefined();
    }
  });

  it('keeps the traceparent of a value whose tracestate is malformed', () => {
    expect(parseTraceContext(`${PARENT};Bad=1`)).toEqual({ traceId: TRACE, spanId: SPAN, traceFlags: 1 });
    expect(parseTraceContext(`${PARENT};`)).toEqual({ traceId: TRACE, spanId: SPAN, traceFlags: 1 });
  });
});

describe('isValidTraceState', () => {
  it('follows the W3C list-member grammar', () => {
    expect(isValidTraceState('a=1')).toBe(true);
    expect(isValidTraceState('a-b_c*d/e=x,f=y z')).toBe(true);
    expect(isValidTraceState('1tenant@sys=v')).toBe(true);
    expect(isValidTraceState('1key=v')).toBe(false);
    expect(isValidTraceState('tenant@1sys=v')).toBe(false);
    expect(isValidTraceState('a=')).toBe(false);
    expect(isValidTraceState('=v')).toBe(false);
  });
});
