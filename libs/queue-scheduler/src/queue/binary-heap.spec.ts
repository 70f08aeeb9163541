import { BinaryHeap } from './binary-heap';

describe('BinaryHeap', () => {
  it('pops in comparator order for random input', () => {
    const heap = new BinaryHeap<number>((a, b) => a < b);
    const input = Array.from({ length: 2000 }, () => Math.floor(Math.random() * 500));
    input.forEach((n) => heap.push(n));
    const out: number[] = [];
    while (heap.size) out.push(heap.pop()!);
    expect(out).toEqual([...input].sort((a, b) => a - b));
    expect(heap.pop()).toBeUndefined();
  });

  it('removeWhere keeps the heap order of the rest', () => {
    const heap = new BinaryHeap<number>((a, b) => a < b);
    [5, 3, 8, 1, 9, 2].forEach((n) => heap.push(n));
    expect(heap.removeWhere((n) => n % 2 === 0).sort()).toEqual([2, 8]);
    const out: number[] = [];
    while (heap.size) out.push(heap.pop()!);
    expect(out).toEqual([1, 3, 5, 9]);
  });
});
