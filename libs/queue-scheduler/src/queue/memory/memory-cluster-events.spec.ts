import type { ClusterTaskEvent } from '../../interfaces/task.interface';
import { TaskEventStream } from '../task-events';
import { MemoryClusterEvents } from './memory-cluster-events';

/** A log on a clock the test moves, and a way to record a task's `queued` step on it. */
function log(retentionMs: number): { events: MemoryClusterEvents; queued: (taskId: string) => void; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  const stream = new TaskEventStream(() => clock.now);
  const events = new MemoryClusterEvents(stream, retentionMs, () => clock.now);
  return { events, clock, queued: (taskId) => stream.emit('queued', { taskId, type: 't', attempts: 0 }) };
}

describe('MemoryClusterEvents', () => {
  it('replays every kept event once to a subscriber that pushes while it is replayed (the log compacts under the replay)', () => {
    const { events, queued, clock } = log(10_000);
    let after = '';
    const probe = events.stream(undefined).subscribe((e) => (after = e.id));
    for (let i = 0; i < 3000; i++) queued(`old-${i}`);
    probe.unsubscribe();
    const replayed: string[] = [];
    clock.now += 9_500;
    let pushed = false;
    // resumed from before the 3,000: on the first one it works past their retention, then pushes three tasks
    const resumeFrom = after.replace(/-\d+$/, '-1');
    const sub = events.stream(resumeFrom).subscribe((e) => {
      replayed.push(e.taskId);
      if (pushed) return;
      pushed = true;
      clock.now += 1_000;
      for (const id of ['cb-0', 'cb-1', 'cb-2']) queued(id);
    });
    sub.unsubscribe();
    // old-1 is the first one replayed; the others went out of retention before their turn, and what the callback pushed is all there
    expect(replayed).toEqual(['old-1', 'cb-0', 'cb-1', 'cb-2']);
  });

  it('replays in order and without a gap after the MAX_KEPT cap drops the oldest during the replay', () => {
    const { events, queued } = log(3_600_000);
    let last = '';
    const probe = events.stream(undefined).subscribe((e) => (last = e.id));
    for (let i = 0; i < 150_000; i++) queued(`t-${i}`);
    probe.unsubscribe();
    const replayed: number[] = [];
    let pushed = false;
    events.stream(last.replace(/-\d+$/, '-1')).subscribe((e) => {
      replayed.push(Number(e.id.split('-').pop()));
      if (pushed) return;
      pushed = true;
      for (let i = 0; i < 6; i++) queued(`cb-${i}`);
    }).unsubscribe();
    // the oldest kept (50,001), then on from the oldest the callback's six pushes left (50,007) to the last of them
    expect(replayed[0]).toBe(50_001);
    expect(replayed.slice(1)).toEqual(Array.from({ length: 100_000 }, (_, i) => 50_007 + i));
  });

  it('replays nothing, and nothing undefined, once every event is past its retention', () => {
    const { events, queued, clock } = log(10_000);
    let first = '';
    const probe = events.stream(undefined).subscribe((e) => (first ||= e.id));
    for (let i = 0; i < 5; i++) queued(`old-${i}`);
    probe.unsubscribe();
    clock.now += 20_000;
    const replayed: unknown[] = [];
    events.stream(first).subscribe((e) => replayed.push(e)).unsubscribe();
    expect(replayed).toHaveLength(0);
  });

  it('counts "from now" from the subscription, as the other backends do, not from the call', () => {
    const { events, queued } = log(60_000);
    const stream = events.stream(undefined);
    queued('before');
    const seen: string[] = [];
    stream.subscribe((e) => seen.push(e.taskId));
    queued('after');
    expect(seen).toEqual(['after']);
  });

  it("refuses an id it never gave: another process's (numbers start at 1 in each), a future one, a database's", () => {
    const a = log(60_000);
    const b = log(60_000);
    let id = '';
    a.events.stream(undefined).subscribe((e) => (id = e.id));
    a.queued('x');
    b.queued('y');
    expect(() => b.events.stream(id)).toThrow(/not an event id of this queue/);
    expect(() => a.events.stream(id)).not.toThrow();
    expect(() => a.events.stream(id.replace(/-\d+$/, '-2'))).toThrow(/not an event id of this queue/);
    expect(() => a.events.stream('1')).toThrow(/not an event id of this queue/);
    expect(() => a.events.stream(id.replace(/-\d+$/, '-01'))).toThrow(/not an event id of this queue/);
  });
});
