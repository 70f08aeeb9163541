import { Injectable } from '@nestjs/common';
import { InvalidArgumentError, QueueSchedulerModule, type QueueSchedulerModuleOptions, type TaskContext, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { BACKENDS, useBackendApp } from './support/backend-app';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

const POLL_MS = 100;

@Injectable()
class PauseHandlers {
  readonly started: string[] = [];
  open!: () => void;
  gate = new Promise<void>((resolve) => (this.open = resolve));

  @TaskHandler('work')
  work(_params: unknown, ctx: TaskContext): void {
    this.started.push(ctx.taskId);
  }

  @TaskHandler('other')
  other(_params: unknown, ctx: TaskContext): void {
    this.started.push(ctx.taskId);
  }

  @TaskHandler('gated')
  async gated(_params: unknown, ctx: TaskContext): Promise<string> {
    this.started.push(ctx.taskId);
    await this.gate;
    return 'finished while paused';
  }

  @TaskHandler('held', { paused: true })
  held(_params: unknown, ctx: TaskContext): void {
    this.started.push(ctx.taskId);
  }
}

describe.each(BACKENDS)('pauseType / resumeType on %s', (backend) => {
  const backendApp = useBackendApp(backend);

  async function boot(options: QueueSchedulerModuleOptions = {}, fresh = true) {
    const queue = { pollIntervalMs: POLL_MS, ...options.queue };
    const app = await backendApp.boot({ ...options, queue }, [PauseHandlers], { fresh });
    return { queue: app.get(TaskQueue), handlers: app.get(PauseHandlers) };
  }

  const succeeded = async (queue: TaskQueue, ids: string[]) => {
    for (const id of ids) if ((await queue.getTask(id)).status !== 'succeeded') return false;
    return true;
  };

  it('starts no task of a paused type while other types run; pushes are kept and run once it is resumed', async () => {
    const { queue, handlers } = await boot();
    await queue.pauseType('work');
    expect(await queue.listPausedTypes()).toEqual(['held', 'work']);
    const paused = await Promise.all(Array.from({ length: 5 }, () => queue.pushTask({ type: 'work' })));
    // workers are alive: tasks of another type, pushed after, run meanwhile
    const others = await Promise.all(Array.from({ length: 5 }, () => queue.pushTask({ type: 'other' })));
    await waitFor(() => succeeded(queue, others), 'the other type to run');
    expect(handlers.started.filter((id) => paused.includes(id))).toEqual([]);
    for (const id of paused) expect((await queue.getTask(id)).status).toBe('pending');
    await queue.resumeType('work');
    expect(await queue.listPausedTypes()).toEqual(['held']);
    await waitFor(() => succeeded(queue, paused), 'the paused tasks to run after resumeType');
    expect(handlers.started.filter((id) => paused.includes(id)).sort()).toEqual([...paused].sort());
  });

  it('lets a running task of a type finish when the type is paused', async () => {
    const { queue, handlers } = await boot();
    const id = await queue.pushTask({ type: 'gated' });
    await waitFor(() => handlers.started.includes(id), 'the gated task to start');
    await queue.pauseType('gated');
    handlers.open();
    await waitFor(async () => (await queue.getTask(id)).status === 'succeeded', 'the running task to finish');
    expect((await queue.getTask(id)).result).toBe('finished while paused');
  });

  it("starts a @TaskHandler({ paused: true }) type paused: its tasks wait for resumeType", async () => {
    const { queue, handlers } = await boot();
    expect(await queue.listPausedTypes()).toEqual(['held']);
    const id = await queue.pushTask({ type: 'held' });
    const other = await queue.pushTask({ type: 'other' });
    await waitFor(() => succeeded(queue, [other]), 'another type to run');
    expect(handlers.started).not.toContain(id);
    await queue.resumeType('held');
    await waitFor(() => succeeded(queue, [id]), 'the held task to run after resumeType');
  });

  it('keeps a paused type with no handler here pending instead of dead-lettering it', async () => {
    const { queue } = await boot();
    await queue.pauseType('nobody-handles-this');
    const id = await queue.pushTask({ type: 'nobody-handles-this' });
    const other = await queue.pushTask({ type: 'other' });
    await waitFor(() => succeeded(queue, [other]), 'another type to run');
    expect((await queue.getTask(id)).status).toBe('pending');
  });

  it.each([
    ['an empty type', ''],
    ['a number', 42],
    ['a NUL', 'a\0b'],
    ['192 characters', 'x'.repeat(192)],
  ])('refuses %s with InvalidArgumentError naming the type, and writes nothing', async (_what, bad) => {
    const { queue } = await boot();
    for (const call of [() => queue.pauseType(bad as string), () => queue.resumeType(bad as string)]) {
      const error = await Promise.resolve().then(call).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).field).toBe('type');
    }
    expect(await queue.listPausedTypes()).toEqual(['held']);
  });

  it('keeps byte-distinct types apart: pausing "Work" does not pause "work"', async () => {
    const { queue } = await boot();
    await queue.pauseType('Work');
    await queue.pauseType('work ');
    const id = await queue.pushTask({ type: 'work' });
    await waitFor(() => succeeded(queue, [id]), 'work to run');
    expect(await queue.listPausedTypes()).toEqual(['Work', 'held', 'work ']);
  });

  if (backend !== 'memory') {
    it('stays paused across a restart (the pause is stored, not held in the process)', async () => {
      const first = await boot({ workers: { enabled: false } });
      await first.queue.pauseType('work');
      const id = await first.queue.pushTask({ type: 'work' });
      await backendApp.close();
      const { queue } = await boot({}, false);
      expect(await queue.listPausedTypes()).toEqual(['held', 'work']);
      const other = await queue.pushTask({ type: 'other' });
      await waitFor(() => succeeded(queue, [other]), 'another type to run');
      expect((await queue.getTask(id)).status).toBe('pending');
      await queue.resumeType('work');
      await waitFor(() => succeeded(queue, [id]), 'the task to run after resumeType');
    });
  }
});
