import { PriorityLanes } from './priority-lanes';

interface Item {
  priority: number;
  n: number;
}

describe('PriorityLanes', () => {
  it('gives the lowest priority first and FIFO within one, for random input', () => {
    const lanes = new PriorityLanes<Item>();
    const input = Array.from({ length: 3000 }, (_, n) => ({ priority: Math.floor(Math.random() * 20) - 10, n }));
    input.forEach((item) => lanes.push(item));
    const out: Item[] = [];
    for (let item = lanes.shift(); item; item = lanes.shift()) out.push(item);
    expect(out).toEqual([...input].sort((a, b) => a.priority - b.priority || a.n - b.n));
    expect(lanes.size).toBe(0);
  });

  it('unshift puts an item back at the front of its priority', () => {
    const lanes = new PriorityLanes<Item>();
    [{ priority: 1, n: 1 }, { priority: 0, n: 2 }, { priority: 1, n: 3 }].forEach((i) => lanes.push(i));
    const first = lanes.shift()!;
    lanes.unshift(first);
    lanes.unshift({ priority: 1, n: 0 });
    expect([lanes.shift(), lanes.shift(), lanes.shift(), lanes.shift()].map((i) => i?.n)).toEqual([2, 0, 1, 3]);
  });

  it('removeWhere drops items from any lane and keeps the order of the rest', () => {
    const lanes = new PriorityLanes<Item>();
    for (let n = 0; n < 12; n++) lanes.push({ priority: n % 3, n });
    expect(lanes.removeWhere((i) => i.priority === 1 || i.n === 3).map((i) => i.n)).toEqual(expect.arrayContaining([1, 3, 4, 7, 10]));
    expect(lanes.size).toBe(7);
    const out: number[] = [];
    for (let item = lanes.shift(); item; item = lanes.shift()) out.push(item.n);
    expect(out).toEqual([0, 6, 9, 2, 5, 8, 11]);
  });
});
