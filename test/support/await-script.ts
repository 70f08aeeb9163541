/**
 * A script that does what a user's one-off script does: boots an app on the
 * memory backend, pushes a task that waits (delayed, or failing once and
 * retried), awaits `onIdle()` or `onTaskFinished()` (QS_WAIT) and closes; or (QS_WAIT=pop, no workers) awaits
 * `popTask()`: a timeout, a delayed task, and a wait the app's close ends.
 * Nothing but that wait holds the process open. Prints JSON lines.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MemoryQueueService, QueueSchedulerModule, TaskHandler } from 'nestjs-queue-scheduler';

const say = (line: object): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
let failures = 0;

@Injectable()
class Handlers {
  @TaskHandler('later')
  later(): string {
    say({ event: 'ran', type: 'later' });
    return 'done';
  }

  @TaskHandler('flaky', { retries: { attempts: 2, backoff: 'fixed', delayMs: 300 } })
  flaky(): string {
    if (failures++ === 0) throw new Error('first try fails');
    say({ event: 'ran', type: 'flaky' });
    return 'done';
  }
}

const workers = { enabled: process.env.QS_WAIT !== 'pop' };

@Module({ imports: [QueueSchedulerModule.forRoot({ dataSource: false, logLevel: 'error', workers })], providers: [Handlers] })
class ScriptModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(ScriptModule, { logger: ['error'] });
  const queue = app.get(MemoryQueueService);
  if (process.env.QS_WAIT === 'pop') {
    let t0 = Date.now();
    say({ event: 'timeout', task: await queue.popTask(400), waitedMs: Date.now() - t0 });
    const id = queue.pushTask({ type: 'manual', delayMs: 300 });
    t0 = Date.now();
    const task = await queue.popTask(5000);
    say({ event: 'popped', same: task?.taskId === id, waitedMs: Date.now() - t0 });
    const waiting = queue.popTask(120_000).catch((err: Error) => err.name);
    await app.close();
    say({ event: 'closed', outcome: await waiting });
    return;
  }
  const ids = [queue.pushTask({ type: 'later', delayMs: 300 }), queue.pushTask({ type: 'flaky' })];
  if (process.env.QS_WAIT === 'finished') {
    for (const id of ids) say({ event: 'finished', status: (await queue.onTaskFinished(id)).status });
  } else {
    await queue.onIdle();
    say({ event: 'idle', statuses: ids.map((id) => queue.getTask(id).status) });
  }
  await app.close();
}

void main();
