/**
 * What a handler hands back in the ways Nest code does, on every backend: an
 * rxjs Observable (as Nest's controllers and microservice handlers may
 * return) is run to its last value, and a thrown value that is not an Error
 * keeps what it said. Found by an audit of the library inside Nest apps.
 */
import { Injectable } from '@nestjs/common';
import { runInNewContext } from 'node:vm';
import { TaskHandler, TaskQueue, type TaskRecord } from 'nestjs-queue-scheduler';
import { interval, map, Observable, take, tap, throwError, timer, mergeMap } from 'rxjs';
import { BACKENDS, useBackendApp } from './support/backend-app';

jest.setTimeout(60_000);

@Injectable()
class StreamHandlers {
  emitted = 0;
  tornDown = false;

  @TaskHandler('stream')
  stream(params: { n: number }): Observable<{ i: number }> {
    return interval(5).pipe(
      take(params.n),
      tap(() => this.emitted++),
      map((i) => ({ i })),
    );
  }

  @TaskHandler('stream-empty')
  empty(): Observable<never> {
    return new Observable((subscriber) => subscriber.complete());
  }

  @TaskHandler('stream-error')
  failing(): Observable<never> {
    return timer(5).pipe(mergeMap(() => throwError(() => new Error('SMTP down'))));
  }

  @TaskHandler('stream-endless', { timeoutMs: 100 })
  endless(): Observable<number> {
    return new Observable<number>((subscriber) => {
      const tick = setInterval(() => subscriber.next(1), 5);
      return () => {
        clearInterval(tick);
        this.tornDown = true;
      };
    });
  }

  @TaskHandler('throws-object')
  throwsObject(): never {
    throw { code: 'E1', msg: 'obj' };
  }

  @TaskHandler('throws-string')
  throwsString(): never {
    throw 'plain words';
  }

  @TaskHandler('throws-undefined')
  async throwsUndefined(): Promise<never> {
    throw undefined;
  }

  /** An Error made in another realm, as node:vm or a Jest sandbox makes them: not `instanceof Error` here. */
  @TaskHandler('throws-other-realm')
  async throwsOtherRealm(): Promise<never> {
    throw runInNewContext('new TypeError("connection refused by upstream")');
  }
}

describe.each(BACKENDS)('handler outcomes on %s', (backend) => {
  const backendApp = useBackendApp(backend);

  async function run(type: string, params?: Record<string, unknown>): Promise<{ record: TaskRecord; handlers: StreamHandlers }> {
    const app = await backendApp.boot({}, [StreamHandlers]);
    const queue = app.get(TaskQueue);
    const taskId = await queue.pushTask({ type, params });
    return { record: await queue.onTaskFinished(taskId, { timeoutMs: 20_000 }), handlers: app.get(StreamHandlers) };
  }

  it('an Observable is subscribed to, and its last value is the result', async () => {
    // before, nothing subscribed (emitted stayed 0) and the try died: "result._subscribe must be JSON-serializable"
    const { record, handlers } = await run('stream', { n: 3 });
    expect(record).toMatchObject({ status: 'succeeded', result: { i: 2 } });
    expect(handlers.emitted).toBe(3);
  });

  it('an Observable that completes without a value succeeds with no result', async () => {
    const { record } = await run('stream-empty');
    expect(record.status).toBe('succeeded');
    expect(record.result).toBeUndefined();
  });

  it("an Observable's error is the try's error", async () => {
    const { record } = await run('stream-error');
    expect(record).toMatchObject({ status: 'dead', error: 'SMTP down' });
  });

  it('a timeout unsubscribes from an Observable that never completes', async () => {
    const { record, handlers } = await run('stream-endless');
    expect(record.status).toBe('dead');
    expect(record.error).toMatch(/timed out after 100 ms/);
    expect(handlers.tornDown).toBe(true);
  });

  it('a thrown object keeps its content, with no stack of the library presented as its own', async () => {
    // before: error "[object Object]", errorStack "Error: [object Object]\n    at storableError (…storable-outcome…)"
    const { record } = await run('throws-object');
    expect(record).toMatchObject({ status: 'dead', error: '{"code":"E1","msg":"obj"}' });
    expect(record.errorStack ?? '').not.toMatch(/storable-outcome|nestjs-queue-scheduler|\n\s+at /);
  });

  it('a thrown string is the error itself; a thrown undefined says so', async () => {
    expect((await run('throws-string')).record).toMatchObject({ status: 'dead', error: 'plain words' });
    await backendApp.close();
    expect((await run('throws-undefined')).record).toMatchObject({ status: 'dead', error: 'the handler threw undefined' });
  });

  it("an Error from another realm keeps its message and stack (it is no '{}')", async () => {
    const { record } = await run('throws-other-realm');
    expect(record).toMatchObject({ status: 'dead', error: 'connection refused by upstream' });
    expect(record.errorStack).toMatch(/^TypeError: connection refused by upstream/);
  });
});
