import { Injectable } from '@nestjs/common';
import { TaskHandler, TaskNotFoundError, TaskQueue, type TaskContext } from 'nestjs-queue-scheduler';
import { BACKENDS, useBackendApp } from './support/backend-app';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

@Injectable()
class DeleteHandlers {
  release!: () => void;
  readonly gate = new Promise<void>((resolve) => (this.release = resolve));

  @TaskHandler('ok')
  ok(): string {
    return 'done';
  }

  @TaskHandler('boom')
  boom(): never {
    throw new Error('always fails');
  }

  @TaskHandler('held')
  held(_params: unknown, ctx: TaskContext): Promise<void> {
    return Promise.race([this.gate, new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()))]);
  }
}

describe.each(BACKENDS)('deleteTask on %s', (backend) => {
  const backendApp = useBackendApp(backend);

  async function boot() {
    const app = await backendApp.boot({ queue: { pollIntervalMs: 100 } }, [DeleteHandlers]);
    return { queue: app.get(TaskQueue), handlers: app.get(DeleteHandlers) };
  }

  /** The memory backend throws at once, the durable ones reject: either way a rejection here. */
  const settled = <T>(call: () => T | Promise<T>): Promise<T> => Promise.resolve().then(call);
  const statusOf = async (queue: TaskQueue, id: string) => (await queue.getTask(id)).status;

  it('deletes a succeeded, a dead and a cancelled task: getTask, listTasks and the dead list no longer have them', async () => {
    const { queue } = await boot();
    const ok = await queue.pushTask({ type: 'ok' });
    const dead = await queue.pushTask({ type: 'boom' });
    const cancelled = await queue.pushTask({ type: 'ok', delayMs: 60_000 });
    expect(await queue.cancelTask(cancelled)).toBe(true);
    await waitFor(async () => (await statusOf(queue, ok)) === 'succeeded' && (await statusOf(queue, dead)) === 'dead', 'both to finish');
    const kept = await queue.pushTask({ type: 'ok' });
    await waitFor(async () => (await statusOf(queue, kept)) === 'succeeded', 'the kept task to finish');

    for (const id of [ok, dead, cancelled]) expect(await queue.deleteTask(id)).toBe(true);
    for (const id of [ok, dead, cancelled]) await expect(settled(() => queue.getTask(id))).rejects.toBeInstanceOf(TaskNotFoundError);
    const listed = (await queue.listTasks({ limit: 100 })).items.map((t) => t.taskId);
    expect(listed).toEqual([kept]);
    expect((await queue.listTasks({ status: 'dead' })).items).toEqual([]);
    // deleting twice: the task is gone
    await expect(settled(() => queue.deleteTask(ok))).rejects.toBeInstanceOf(TaskNotFoundError);
  });

  it('refuses (false) a pending or running task and leaves it to run', async () => {
    const { queue, handlers } = await boot();
    const running = await queue.pushTask({ type: 'held' });
    await waitFor(async () => (await statusOf(queue, running)) === 'running', 'the task to start');
    const pending = await queue.pushTask({ type: 'ok', delayMs: 60_000 });
    expect(await queue.deleteTask(running)).toBe(false);
    expect(await queue.deleteTask(pending)).toBe(false);
    expect(await statusOf(queue, pending)).toBe('pending');
    handlers.release();
    await waitFor(async () => (await statusOf(queue, running)) === 'succeeded', 'the running task to finish');
  });

  it('frees the id: a task pushed again under a deleted id is a new task', async () => {
    const { queue } = await boot();
    const id = await queue.pushTask({ taskId: 'report-2026-12', type: 'boom' });
    await waitFor(async () => (await statusOf(queue, id)) === 'dead', 'the task to die');
    expect(await queue.deleteTask(id)).toBe(true);
    expect(await queue.pushTask({ taskId: 'report-2026-12', type: 'ok' })).toBe('report-2026-12');
    await waitFor(async () => (await statusOf(queue, id)) === 'succeeded', 'the new task to succeed');
    expect(await queue.getTask(id)).toMatchObject({ type: 'ok', attempts: 1, result: 'done' });
  });

  it('an unknown id is TaskNotFoundError', async () => {
    const { queue } = await boot();
    await expect(settled(() => queue.deleteTask('never-pushed'))).rejects.toBeInstanceOf(TaskNotFoundError);
  });
});
