import fc from 'fast-check';
import { BinaryHeap, IndexedHeap } from './binary-heap';

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

interface Item {
  key: number;
  id: number;
  heapIndex: number;
}

describe('IndexedHeap', () => {
  const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 20_1204;
  const RUNS = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 300;

  it('any mix of pushes, pops and removals from anywhere pops the rest in key order (model check)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), key: fc.integer({ min: 0, max: 50 }) }),
      fc.record({ kind: fc.constant('pop' as const) }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('remove-again' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const before = (a: Item, b: Item): boolean => a.key < b.key || (a.key === b.key && a.id < b.id);
        const heap = new IndexedHeap<Item>(before);
        let model: Item[] = [];
        const gone: Item[] = [];
        let id = 0;
        for (const o of ops) {
          if (o.kind === 'push') {
            const item = { key: o.key, id: id++, heapIndex: -1 };
            heap.push(item);
            model.push(item);
          } else if (o.kind === 'pop') {
            const want = [...model].sort((a, b) => (before(a, b) ? -1 : 1))[0];
            expect(heap.pop()).toBe(want);
            if (want) {
              model = model.filter((m) => m !== want);
              gone.push(want);
            }
          } else if (o.kind === 'remove' && model.length > 0) {
            const item = model[o.pick % model.length];
            expect(heap.remove(item)).toBe(true);
            model = model.filter((m) => m !== item);
            gone.push(item);
          } else if (o.kind === 'remove-again' && gone.length > 0) {
            // an item already out, whatever its stale index says, is not taken again (nor is another in its place)
            expect(heap.remove(gone[o.pick % gone.length])).toBe(false);
          }
          expect(heap.size).toBe(model.length);
          for (const [i, item] of heap.values().entries()) expect(item.heapIndex).toBe(i);
        }
        const rest: Item[] = [];
        while (heap.size) rest.push(heap.pop()!);
        expect(rest).toEqual([...model].sort((a, b) => (before(a, b) ? -1 : 1)));
        for (const item of [...gone, ...rest]) expect(item.heapIndex).toBe(-1);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('takes 20,000 items out one by one from the middle in O(log n) each: far fewer comparisons than a scan per removal', () => {
    let comparisons = 0;
    const heap = new IndexedHeap<Item>((a, b) => (comparisons++, a.key < b.key));
    const items = Array.from({ length: 20_000 }, (_, i) => ({ key: (i * 7919) % 20_000, id: i, heapIndex: -1 }));
    for (const item of items) heap.push(item);
    comparisons = 0;
    for (const item of items) expect(heap.remove(item)).toBe(true);
    expect(heap.size).toBe(0);
    // a scan per removal would be n²/2 = 2e8 reads; log2(20,000) ≈ 15 levels, two comparisons per level at most
    expect(comparisons).toBeLessThan(20_000 * 2 * 15);
  });
});
