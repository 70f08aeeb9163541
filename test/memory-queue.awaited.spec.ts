import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { instanceOf } from './support/processes';

jest.setTimeout(60_000);

const ROOT = join(__dirname, '..');

/** Runs test/support/await-script.ts in its own process: what a user's one-off script is. */
async function runScript(wait: 'idle' | 'finished' | 'pop'): Promise<{ code: number | null; lines: Array<Record<string, unknown>>; stderr: string[] }> {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', join(__dirname, 'support', 'await-script.ts')], {
    cwd: ROOT,
    env: { ...process.env, QS_WAIT: wait, SWC_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const instance = instanceOf(child);
  const code = await instance.exited;
  return { code, lines: instance.lines, stderr: instance.stderr };
}

/**
 * The library's timers are unref'd so an idle app can exit. A script on the
 * memory backend whose only open work is a delayed task or a retry's wait,
 * and which awaits onIdle() or onTaskFinished(), must still see them run:
 * the process used to exit at once with code 0, the tasks never run.
 */
describe('an awaited wait on the memory queue keeps the process alive', () => {
  it('onIdle() resolves after the delayed task and the retried one ran, and the script then exits by itself', async () => {
    const { code, lines, stderr } = await runScript('idle');
    expect(stderr.filter((l) => l.trim() !== '')).toEqual([]);
    expect(lines.filter((l) => l.event === 'ran').map((l) => l.type).sort()).toEqual(['flaky', 'later']);
    expect(lines.at(-1)).toEqual({ event: 'idle', statuses: ['succeeded', 'succeeded'] });
    expect(code).toBe(0);
  });

  it('popTask() waits out its timeout, returns a delayed task when due, and ends with QueueClosedError when the app closes', async () => {
    const { code, lines, stderr } = await runScript('pop');
    expect(stderr.filter((l) => l.trim() !== '')).toEqual([]);
    expect(lines.map((l) => l.event)).toEqual(['timeout', 'popped', 'closed']);
    // the script exited mid-wait (code 0, no line) while only popTask's unref'd timer was left
    expect(lines[0]).toEqual({ event: 'timeout', task: null, waitedMs: expect.any(Number) });
    expect(lines[0].waitedMs).toBeGreaterThanOrEqual(399);
    expect(lines[1]).toMatchObject({ event: 'popped', same: true });
    expect(lines[1].waitedMs).toBeGreaterThanOrEqual(250);
    expect(lines[2]).toEqual({ event: 'closed', outcome: 'QueueClosedError' });
    expect(code).toBe(0);
  });

  it('onTaskFinished() resolves with each task finished, and the script then exits by itself', async () => {
    const { code, lines } = await runScript('finished');
    expect(lines.filter((l) => l.event === 'finished')).toEqual([
      { event: 'finished', status: 'succeeded' },
      { event: 'finished', status: 'succeeded' },
    ]);
    expect(code).toBe(0);
  });
});
