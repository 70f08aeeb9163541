import { TaskIndex, type Indexed } from './task-index';

interface Entry extends Indexed {
  live: boolean;
}

function entry(index: TaskIndex<Entry>, taskId?: string): Entry {
  const id = taskId ?? index.newId();
  return { taskId: id, idSeq: taskId === undefined ? index.seqOf(id) : -1, superseded: false, live: true };
}

describe('TaskIndex', () => {
  it('makes UUID-shaped ids, unique per index, whose counter it reads back', () => {
    const a = new TaskIndex<Entry>();
    const b = new TaskIndex<Entry>();
    const ids = [a.newId(), a.newId(), b.newId()];
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(3);
    expect([a.seqOf(ids[0]), a.seqOf(ids[1]), a.seqOf(ids[2])]).toEqual([0, 1, -1]);
    expect(a.seqOf('not-one-of-ours')).toBe(-1);
  });

  it('finds generated and chosen ids, and forgets only the very entry deleted', () => {
    const index = new TaskIndex<Entry>();
    const gen = entry(index);
    const chosen = entry(index, 'chosen');
    index.set(gen);
    index.set(chosen);
    expect(index.get(gen.taskId)).toBe(gen);
    expect(index.get('chosen')).toBe(chosen);
    // the producer pushes again with a generated id once that task finished: the new entry replaces it
    const again = entry(index, gen.taskId);
    gen.superseded = true;
    index.set(again);
    expect(index.get(gen.taskId)).toBe(again);
    index.delete(gen);
    expect(index.get(gen.taskId)).toBe(again);
    index.delete(again);
    index.delete(chosen);
    expect(index.get(gen.taskId)).toBeUndefined();
    expect(index.get('chosen')).toBeUndefined();
    expect([...index.values()]).toEqual([]);
  });

  it('moves long-lived entries out of the window instead of growing it without bound', () => {
    const index = new TaskIndex<Entry>();
    const old = entry(index);
    index.set(old);
    const churn: Entry[] = [];
    for (let i = 0; i < 100_000; i++) {
      const e = entry(index);
      index.set(e);
      churn.push(e);
      if (churn.length > 10) index.delete(churn.shift()!);
    }
    // one task held from the start, the rest short-lived: the window did not keep 100,000 slots for it
    const window = (index as unknown as { window: { size: number } }).window;
    expect(window.size).toBeLessThan(5000);
    expect(index.get(old.taskId)).toBe(old);
    expect(old.idSeq).toBe(-1);
    for (const e of churn) expect(index.get(e.taskId)).toBe(e);
    expect([...index.values()]).toHaveLength(churn.length + 1);
  });
});
