import { Injectable } from '@nestjs/common';
import { Job, Worker } from 'bullmq';
import { TaskHandler, TaskQueue, type TaskContext, WorkerPoolService } from 'nestjs-queue-scheduler';
import { DatabaseFlows } from 'nestjs-queue-scheduler/queue/database/database-flows';
import { TaskInserts } from 'nestjs-queue-scheduler/queue/database/task-inserts';
import { taskIdOf } from 'nestjs-queue-scheduler/queue/redis/redis-keys';
import { TaskRunner } from 'nestjs-queue-scheduler/workers/task-runner';
import { BACKENDS, useBackendApp } from './support/backend-app';
import { waitFor } from './support/wait-for';

/**
 * Two callers on one id at the same moment (a two-instance audit). Each test
 * holds one caller at the point where the other's step went through, through
 * the method it was in, so the interleaving the audit met now and then is
 * met every run; the statements and scripts themselves run for real.
 */

jest.setTimeout(60_000);

const DATABASE_BACKENDS = BACKENDS.filter((b) => b !== 'memory' && b !== 'redis');

@Injectable()
class RaceHandlers {
  readonly runs: Array<{ taskId: string; params: unknown }> = [];
  readonly aborted = new Set<string>();

  @TaskHandler('ok')
  ok(params: unknown, ctx: TaskContext): string {
    this.runs.push({ taskId: ctx.taskId, params });
    return 'done';
  }

  failing = true;

  /** Fails while `failing`, with no retry: the task is dead until retryTask. Then succeeds after 50 ms unless aborted. */
  @TaskHandler('flaky', { retries: { attempts: 1 } })
  async flaky(_params: unknown, ctx: TaskContext): Promise<string> {
    if (this.failing) throw new Error('not yet');
    await new Promise((resolve) => setTimeout(resolve, 50));
    ctx.signal.throwIfAborted();
    this.runs.push({ taskId: ctx.taskId, params: ctx.task.params });
    return 'done';
  }

  /** Runs 3 s unless its signal aborts it. */
  @TaskHandler('slow')
  slow(_params: unknown, ctx: TaskContext): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, 3_000);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        this.aborted.add(ctx.taskId);
        reject(ctx.signal.reason);
      });
    });
  }
}

afterEach(() => jest.restoreAllMocks());

/** A point a test holds a caller at: `reached` resolves when it gets there, `release` lets it go on. */
function gate() {
  let reach!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const held = new Promise<void>((resolve) => (release = resolve));
  return { reached, release, stop: (): Promise<void> => (reach(), held) };
}

/** The task ids the worker pool's runner is asked to stop, as they reach it. */
function cancelsAsked(): string[] {
  const asked: string[] = [];
  const cancel = TaskRunner.prototype.cancel;
  jest.spyOn(TaskRunner.prototype, 'cancel').mockImplementation(function (this: TaskRunner, taskId) {
    asked.push(taskId);
    return cancel.call(this, taskId);
  });
  return asked;
}

describe.each(DATABASE_BACKENDS)('two callers on one id on %s', (backend) => {
  const backendApp = useBackendApp(backend);

  it("a finished id pushed again while deleteTask removes its row: the push stores its task and it runs (it returned the id with nothing stored)", async () => {
    const app = await backendApp.boot({ queue: { pollIntervalMs: 100 } }, [RaceHandlers]);
    const queue = app.get(TaskQueue);
    const handlers = app.get(RaceHandlers);
    await queue.pushTask({ type: 'ok', taskId: 'race-x', params: { from: 'first' } });
    await waitFor(async () => (await queue.getTask('race-x')).status === 'succeeded', 'the first task to succeed');
    // the push met the finished row; the delete commits before the push queues that row again
    const requeue = (TaskInserts.prototype as unknown as { requeueFinished: (...args: unknown[]) => Promise<unknown> }).requeueFinished;
    let deleted: boolean | undefined;
    jest.spyOn(TaskInserts.prototype as never, 'requeueFinished' as never).mockImplementation(async function (this: unknown, ...args: unknown[]) {
      deleted ??= await queue.deleteTask('race-x');
      return requeue.apply(this, args);
    } as never);
    expect(await queue.pushTask({ type: 'ok', taskId: 'race-x', params: { from: 'second' } })).toBe('race-x');
    expect(deleted).toBe(true);
    await waitFor(async () => (await Promise.resolve().then(() => queue.getTask('race-x')).catch(() => undefined))?.status === 'succeeded', 'the pushed task to run');
    expect((await queue.getTask('race-x')).params).toEqual({ from: 'second' });
    expect(handlers.runs.map((r) => r.params)).toEqual([{ from: 'first' }, { from: 'second' }]);
  });

  it('cancelTask while the task it names is pushed between its two statements cancels it (it returned false and the task ran)', async () => {
    const app = await backendApp.boot({ workers: { enabled: false } }, [RaceHandlers]);
    const queue = app.get(TaskQueue);
    // the cancel of a task not started finds no row; the push commits; the request to a running try finds it pending
    const cancel = DatabaseFlows.prototype.cancel;
    let pushed: string | undefined;
    jest.spyOn(DatabaseFlows.prototype, 'cancel').mockImplementation(async function (this: DatabaseFlows, ...args) {
      const cancelled = await cancel.apply(this, args);
      pushed ??= await queue.pushTask({ type: 'slow', taskId: 'race-c' });
      return cancelled;
    });
    expect(await queue.cancelTask('race-c')).toBe(true);
    expect(pushed).toBe('race-c');
    expect((await queue.getTask('race-c')).status).toBe('cancelled');
  });

  it("a running flow child's cancel and its parent's settle commit together: a settle that fails writes neither (the cancel committed alone, and a crash then left the parent waiting for ever)", async () => {
    const app = await backendApp.boot({ queue: { pollIntervalMs: 50 } }, [RaceHandlers]);
    const queue = app.get(TaskQueue);
    const ids = await queue.pushFlow({ type: 'ok', children: [{ type: 'slow' }] });
    const child = ids.children[0].taskId;
    await waitFor(async () => (await queue.getTask(child)).status === 'running', 'the child to start');
    // the parent's settle fails right after it ran, as a crash there would leave it: not done
    const childCancelled = DatabaseFlows.prototype.childCancelled;
    let failed = false;
    jest.spyOn(DatabaseFlows.prototype, 'childCancelled').mockImplementation(function (this: DatabaseFlows, task, record) {
      return childCancelled.call(this, task, (then) =>
        record(then && (async (runner) => {
          await then(runner);
          failed = true;
          throw new Error('the process died here');
        })));
    });
    expect(await queue.cancelTask(child)).toBe(true);
    await waitFor(async () => failed, "the parent's settle to fail");
    await waitFor(async () => app.get(WorkerPoolService).busy === 0, 'the try to end');
    expect((await queue.getTask(child)).status).toBe('running');
    expect((await queue.getTask(ids.taskId)).status).toBe('waiting');
  });
});

describe('two callers on one id on redis', () => {
  const backendApp = useBackendApp('redis');

  it("a finished id pushed again while deleteTask removes it: the push's job and record stay (the delete removed the job the push had just added)", async () => {
    const app = await backendApp.boot({ queue: { pollIntervalMs: 100 } }, [RaceHandlers]);
    const queue = app.get(TaskQueue);
    const producer = await backendApp.producer();
    try {
      await queue.pushTask({ type: 'ok', taskId: 'race-x', params: { from: 'first' } });
      await waitFor(async () => (await queue.getTask('race-x')).status === 'succeeded', 'the first task to succeed');
      // no worker takes the second push: what is stored of it is read as pushed
      await app.get(WorkerPoolService).stop();
      // the delete has read the task finished; the other instance's push runs meanwhile, for as long as it may
      const remove = Job.prototype.remove;
      let push: Promise<string> | undefined;
      jest.spyOn(Job.prototype, 'remove').mockImplementation(async function (this: Job, ...args) {
        if (!push) {
          push = Promise.resolve(producer.get(TaskQueue).pushTask({ type: 'ok', taskId: 'race-x', params: { from: 'second' } }));
          await Promise.race([push, new Promise((resolve) => setTimeout(resolve, 500))]);
        }
        return remove.apply(this, args);
      });
      const deleted = await queue.deleteTask('race-x');
      expect(await push).toBe('race-x');
      expect(deleted).toBe(true);
      expect(await queue.getTask('race-x')).toMatchObject({ status: 'pending', params: { from: 'second' } });
    } finally {
      await producer.close();
    }
  });

  it("a cancel heard before the fetch's reply reached the pool stops the task once it starts (cancelTask returned true and it ran to success)", async () => {
    const app = await backendApp.boot({ queue: { pollIntervalMs: 100 } }, [RaceHandlers]);
    const queue = app.get(TaskQueue);
    const handlers = app.get(RaceHandlers);
    // the job is active in Redis, the reply held on its way to the pool
    const getNextJob = Worker.prototype.getNextJob;
    const fetched = gate();
    jest.spyOn(Worker.prototype, 'getNextJob').mockImplementation(async function (this: Worker, ...args) {
      const job = (await getNextJob.apply(this, args)) as Job | undefined;
      if (job?.id && taskIdOf(job.id) === 'race-c') await fetched.stop();
      return job as Job;
    });
    const asked = cancelsAsked();
    await queue.pushTask({ type: 'slow', taskId: 'race-c' });
    await fetched.reached;
    expect(await queue.cancelTask('race-c')).toBe(true);
    await waitFor(() => asked.includes('race-c'), 'the cancel request to reach the worker');
    fetched.release();
    await waitFor(async () => (await queue.getTask('race-c')).status === 'cancelled', 'the task to end cancelled', 2_500);
    expect(handlers.aborted.has('race-c')).toBe(true);
  });

  it('a cancel that lost its race to the end of a try does not cancel the retryTask that follows (the retry of the same job was cancelled)', async () => {
    const app = await backendApp.boot({ queue: { pollIntervalMs: 100 } }, [RaceHandlers]);
    const queue = app.get(TaskQueue);
    const handlers = app.get(RaceHandlers);
    // the handler has failed; its job is still active while the failure is written, and the cancel is published then
    const moveToFailed = Job.prototype.moveToFailed;
    const failing = gate();
    jest.spyOn(Job.prototype, 'moveToFailed').mockImplementation(async function (this: Job, ...args) {
      if (this.id && taskIdOf(this.id) === 'race-r') await failing.stop();
      return moveToFailed.apply(this, args);
    });
    const asked = cancelsAsked();
    await queue.pushTask({ type: 'flaky', taskId: 'race-r' });
    await failing.reached;
    expect(await queue.cancelTask('race-r')).toBe(true);
    await waitFor(() => asked.includes('race-r'), 'the cancel request to reach the worker');
    failing.release();
    await waitFor(async () => (await queue.getTask('race-r')).status === 'dead', 'the try to end the task dead');
    handlers.failing = false;
    await queue.retryTask('race-r');
    await waitFor(async () => ['succeeded', 'cancelled'].includes((await queue.getTask('race-r')).status), 'the retry to end');
    expect((await queue.getTask('race-r')).status).toBe('succeeded');
    expect(handlers.runs.map((r) => r.taskId)).toEqual(['race-r']);
  });
});
