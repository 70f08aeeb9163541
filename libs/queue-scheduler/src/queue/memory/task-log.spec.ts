import type { TaskStatus } from '../../interfaces/task.interface';
import { ANY_STATUS, type Logged, moveStatus, statusIndex, TaskLog } from './task-log';

interface Entry extends Logged {
  id: number;
}

let seq = 0;
const entry = (status: TaskStatus = 'pending'): Entry => ({ id: seq, seq: seq++, status, allBlock: undefined, allSlot: -1, typeBlock: undefined, typeSlot: -1 });

/** Every page of `status` (ANY_STATUS: all), `limit` at a time, following the cursor; and what each page cost. */
function pages(log: TaskLog<Entry>, status: number, limit: number): { ids: number[]; costs: number[] } {
  const ids: number[] = [];
  const costs: number[] = [];
  let before = Infinity;
  for (;;) {
    const out: Entry[] = [];
    log.page(status, before, limit + 1, out);
    costs.push(log.scanned);
    ids.push(...out.slice(0, limit).map((e) => e.id));
    if (out.length <= limit) return { ids, costs };
    before = out[limit - 1].seq;
  }
}

function setStatus(e: Entry, status: TaskStatus): void {
  moveStatus(e.allBlock, statusIndex(e.status), statusIndex(status));
  e.status = status;
}

describe('TaskLog', () => {
  it('pages newest first with a seq cursor, each entry once, skipping removed ones', () => {
    const log = new TaskLog<Entry>('all');
    const all = Array.from({ length: 1000 }, () => entry());
    for (const e of all) log.append(e);
    const removed = new Set(all.filter((_, i) => i % 7 === 0 || (i > 300 && i < 500)));
    for (const e of removed) log.remove(e);
    const expected = all.filter((e) => !removed.has(e)).map((e) => e.id).reverse();
    for (const limit of [1, 3, 64, 100, 5000]) expect(pages(log, ANY_STATUS, limit).ids).toEqual(expected);
    expect(log.size).toBe(expected.length);
  });

  it('filters by status through the per-block counts, with status changes in place', () => {
    const log = new TaskLog<Entry>('all');
    const all = Array.from({ length: 5000 }, () => entry());
    for (const e of all) log.append(e);
    const statuses: TaskStatus[] = ['running', 'succeeded', 'dead', 'failed'];
    all.forEach((e, i) => i % 5 !== 0 && setStatus(e, statuses[i % 4]));
    for (const status of ['pending', ...statuses] as TaskStatus[]) {
      const expected = all.filter((e) => e.status === status).map((e) => e.id).reverse();
      expect(pages(log, statusIndex(status), 37).ids).toEqual(expected);
      expect(log.count(statusIndex(status))).toBe(expected.length);
    }
    expect(pages(log, statusIndex('cancelled'), 10).ids).toEqual([]);
  });

  it('reads O(limit) slots for a page of 50 over 200,000 entries, on the first page and deep ones', () => {
    const log = new TaskLog<Entry>('all');
    const all = Array.from({ length: 200_000 }, () => entry());
    for (const e of all) log.append(e);
    const out: Entry[] = [];
    log.page(ANY_STATUS, Infinity, 51, out);
    expect(out.map((e) => e.id)).toEqual(all.slice(-51).map((e) => e.id).reverse());
    // 51 slots and the one or two blocks they sit in: not a read of the 200,000
    expect(log.scanned).toBeLessThanOrEqual(51 + 2);
    const deep: Entry[] = [];
    log.page(ANY_STATUS, all[100_000].seq, 51, deep);
    expect(deep.map((e) => e.id)).toEqual(all.slice(100_000 - 51, 100_000).map((e) => e.id).reverse());
    // plus, at most, the slots of the cursor's block that are above it
    expect(log.scanned).toBeLessThanOrEqual(51 + 2 + 63);
  });

  it('a status rare among 200,000 entries costs a read per block between matches, never a read of each entry', () => {
    const log = new TaskLog<Entry>('all');
    const all = Array.from({ length: 200_000 }, () => entry());
    for (const e of all) log.append(e);
    const dead = [10, 70_000, 150_000, 199_000].map((i) => all[i]);
    for (const e of dead) setStatus(e, 'dead');
    const { ids, costs } = pages(log, statusIndex('dead'), 2);
    expect(ids).toEqual(dead.map((e) => e.id).reverse());
    expect(Math.max(...costs)).toBeLessThan(200_000 / 64 + 3 * 64);
  });

  it('keeps its slots within twice its entries when a long-lived entry holds the oldest block', () => {
    const log = new TaskLog<Entry>('all');
    const old = entry();
    log.append(old);
    const live: Entry[] = [];
    for (let i = 0; i < 100_000; i++) {
      const e = entry();
      log.append(e);
      live.push(e);
      if (live.length > 100) log.remove(live.shift()!);
    }
    expect(log.size).toBe(101);
    expect(log.slots).toBeLessThanOrEqual(2 * 101 + 2 * 64 + 64);
    expect(pages(log, ANY_STATUS, 30).ids).toEqual([...live.map((e) => e.id).reverse(), old.id]);
  });

  it('keeps its slots within about twice its entries when one entry in each block lives on', () => {
    const log = new TaskLog<Entry>('all');
    const kept: Entry[] = [];
    for (let i = 0; i < 64 * 1000; i++) {
      const e = entry();
      log.append(e);
      if (i % 64 === 0) kept.push(e);
      else log.remove(e);
    }
    expect(log.size).toBe(1000);
    expect(log.slots).toBeLessThanOrEqual(2 * 1000 + 3 * 64);
    expect(pages(log, ANY_STATUS, 99).ids).toEqual(kept.map((e) => e.id).reverse());
  });

  it('drops every block once emptied from the front, and takes entries again after', () => {
    const log = new TaskLog<Entry>('type');
    const all = Array.from({ length: 300 }, () => entry());
    for (const e of all) log.append(e);
    for (const e of all) log.remove(e);
    expect(log.size).toBe(0);
    expect(log.slots).toBe(0);
    expect(all.every((e) => e.typeBlock === undefined && e.allBlock === undefined)).toBe(true);
    const again = entry();
    log.append(again);
    log.remove(again);
    log.remove(again);
    expect(log.size).toBe(0);
  });
});
