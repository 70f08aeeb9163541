import { describeValue } from './errors';

// the value a typed error names is what the caller passed: what JSON would make of it hid the mistake
describe('describeValue', () => {
  it('names a value JSON cannot show rather than giving its tag ([object Array] for a flow node that contains itself)', () => {
    const node: { type: string; children: unknown[] } = { type: 't', children: [] };
    node.children.push(node);
    expect(describeValue(node.children)).toBe('an array JSON cannot show (it contains itself, or a BigInt)');
    expect(describeValue({ n: 1n })).toBe('an object JSON cannot show (it contains itself, or a BigInt)');
  });

  it('cuts a long string, saying how long it was: a 1 MB id would otherwise be the whole message', () => {
    const shown = describeValue('x'.repeat(1_000_000));
    expect(shown).toBe(`'${'x'.repeat(200)}'... (1000000 characters)`);
    expect(describeValue('y'.repeat(200))).toBe(`'${'y'.repeat(200)}'`);
  });

  it('names the value as given, not as JSON would turn it', () => {
    expect(describeValue(new Date(Number.NaN))).toBe('an invalid Date'); // JSON: null
    expect(describeValue(new Date(0))).toBe('1970-01-01T00:00:00.000Z');
    expect(describeValue(-0)).toBe('-0'); // String: '0'
    expect(describeValue(new Number(1))).toBe('new Number(1)'); // JSON: 1
    expect(describeValue(new String('x'))).toBe("new String('x')");
    expect(describeValue(Number.NaN)).toBe('NaN');
    expect(describeValue(10n)).toBe('10n');
  });

  it('escapes control characters, so a NUL or a newline cannot hide or split the message in a log', () => {
    expect(describeValue('a\0b\nc')).toBe("'a\\u0000b\\u000ac'");
    expect(describeValue('plain')).toBe("'plain'");
  });
});
