import { Deque } from './deque';

describe('Deque', () => {
  it('keeps FIFO order across growth and wrap-around, and takes items back at the front', () => {
    const deque = new Deque<number>(2);
    const expected: number[] = [];
    let next = 0;
    // interleave pushes and shifts so the head wraps around the buffer several times while it grows
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < round + 3; i++) {
        deque.push(next);
        expected.push(next++);
      }
      for (let i = 0; i < round; i++) expect(deque.shift()).toBe(expected.shift());
    }
    deque.unshift(-1);
    expected.unshift(-1);
    expect(deque.size).toBe(expected.length);
    expect(deque.peek()).toBe(-1);
    expect([...deque.values()]).toEqual(expected);
    expect(deque.at(1)).toBe(expected[1]);
    deque.setAt(1, 99);
    expect(deque.at(1)).toBe(99);
    expect(deque.at(deque.size)).toBeUndefined();
    while (deque.size) deque.shift();
    expect(deque.shift()).toBeUndefined();
    expect(deque.peek()).toBeUndefined();
  });

  it('removeWhere keeps the order of the rest', () => {
    const deque = new Deque<number>();
    for (let i = 0; i < 40; i++) deque.push(i);
    for (let i = 0; i < 10; i++) deque.shift();
    expect(deque.removeWhere((n) => n % 3 === 0)).toEqual([12, 15, 18, 21, 24, 27, 30, 33, 36, 39]);
    expect([...deque.values()]).toEqual([10, 11, 13, 14, 16, 17, 19, 20, 22, 23, 25, 26, 28, 29, 31, 32, 34, 35, 37, 38]);
  });
});
