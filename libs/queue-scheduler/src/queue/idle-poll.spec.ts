import { IdlePoll } from './idle-poll';

describe('IdlePoll', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  /** How long a wait lasts on the fake clock, at most `limitMs`. */
  async function waited(poll: IdlePoll, timeoutMs = 10_000, limitMs = 60_000): Promise<number> {
    const start = Date.now();
    let done = false;
    void poll.wait(timeoutMs, new AbortController().signal).then(() => (done = true));
    await jest.advanceTimersByTimeAsync(0);
    while (!done && Date.now() - start < limitMs) await jest.advanceTimersByTimeAsync(1);
    return Date.now() - start;
  }

  it('waits 25 ms after a claim that found work, doubling with each empty claim up to the poll interval', async () => {
    const poll = new IdlePoll(500);
    const waits: number[] = [];
    poll.claiming();
    poll.claimed(3);
    waits.push(await waited(poll));
    for (let i = 0; i < 6; i++) {
      poll.claiming();
      poll.claimed(0);
      waits.push(await waited(poll));
    }
    expect(waits).toEqual([25, 50, 100, 200, 400, 500, 500]);
    poll.claiming();
    poll.claimed(1);
    expect(await waited(poll)).toBe(25);
  });

  it('never waits longer than the timeout it is given', async () => {
    const poll = new IdlePoll(500);
    for (let i = 0; i < 5; i++) poll.claimed(0);
    poll.claiming();
    expect(await waited(poll, 120)).toBe(120);
  });

  it('does not sleep when a push came while the claim ran: the claim may have missed it', async () => {
    const poll = new IdlePoll(500);
    poll.claiming();
    poll.pushed(0);
    poll.claimed(0);
    expect(await waited(poll)).toBe(0);
  });

  it('a push wakes as many sleepers as it brought work for, the longest sleeper first', async () => {
    const poll = new IdlePoll(10_000);
    for (let i = 0; i < 10; i++) poll.claimed(0);
    poll.claiming();
    const woken: number[] = [];
    const signal = new AbortController().signal;
    for (const n of [1, 2, 3]) void poll.wait(10_000, signal).then(() => woken.push(n));
    poll.pushed(2);
    await jest.advanceTimersByTimeAsync(0);
    expect(woken).toEqual([1, 2]);
    poll.wakeAll();
    await jest.advanceTimersByTimeAsync(0);
    expect(woken).toEqual([1, 2, 3]);
  });

  it('an aborted signal ends the wait', async () => {
    const poll = new IdlePoll(10_000);
    for (let i = 0; i < 10; i++) poll.claimed(0);
    poll.claiming();
    const abort = new AbortController();
    let done = false;
    void poll.wait(10_000, abort.signal).then(() => (done = true));
    await jest.advanceTimersByTimeAsync(100);
    expect(done).toBe(false);
    abort.abort();
    await jest.advanceTimersByTimeAsync(0);
    expect(done).toBe(true);
  });
});
