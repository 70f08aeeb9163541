import { PausedTypes } from './paused-types';

/** A store read the test answers when it chooses: the read under way while this instance pauses a type. */
function deferredLoad(): { load: () => Promise<string[]>; answer: (types: string[]) => void; reads: () => number } {
  let answer: (types: string[]) => void = () => undefined;
  let reads = 0;
  return {
    load: () => {
      reads++;
      return new Promise<string[]>((resolve) => (answer = resolve));
    },
    answer: (types) => answer(types),
    reads: () => reads,
  };
}

describe('PausedTypes', () => {
  it('keeps a pause made while a read of the store was under way, and reads again at the next refresh', async () => {
    const store = deferredLoad();
    const paused = new PausedTypes(store.load, 1000);
    const reading = paused.refresh(0)!;
    // pauseType wrote the store after the read above had looked at it: the read still says no type is paused
    paused.add('mail');
    store.answer([]);
    await reading;
    expect(paused.has('mail')).toBe(true);
    // not taken as fresh: the next claim reads the store again, and that read is applied
    const again = paused.refresh(0)!;
    expect(store.reads()).toBe(2);
    store.answer(['mail', 'sms']);
    await again;
    expect(paused.list()).toEqual(['mail', 'sms']);
  });

  it('keeps a resume made while a read was under way', async () => {
    const store = deferredLoad();
    const paused = new PausedTypes(store.load, 1000);
    const first = paused.refresh(0)!;
    store.answer(['mail']);
    await first;
    expect(paused.has('mail')).toBe(true);
    const second = paused.refresh(Date.now() + 5000)!;
    expect(store.reads()).toBe(2);
    paused.delete('mail');
    store.answer(['mail']);
    await second;
    expect(paused.has('mail')).toBe(false);
  });

  it('applies a read no pause or resume overtook, and is then fresh for refreshMs', async () => {
    const store = deferredLoad();
    const paused = new PausedTypes(store.load, 1000);
    const reading = paused.refresh(0)!;
    store.answer(['mail']);
    await reading;
    expect(paused.list()).toEqual(['mail']);
    expect(paused.refresh(Date.now())).toBeUndefined();
    expect(store.reads()).toBe(1);
  });
});
