import { Injectable } from '@nestjs/common';
import { type ClusterTaskEvent, type FlowInput, type FlowNode, InvalidTaskError, MAX_FLOW_DEPTH, TaskHandler, TaskQueue, type TaskContext } from 'nestjs-queue-scheduler';
import { BACKENDS, useBackendApp } from './support/backend-app';
import { waitFor } from './support/wait-for';

jest.setTimeout(60_000);

@Injectable()
class FlowHandlers {
  /** `start:<id>` and `end:<id>` in the order they happened, in this process. */
  readonly log: string[] = [];
  readonly seen = new Map<string, Record<string, unknown>>();
  flakyOk = false;

  @TaskHandler('node', { concurrency: 8 })
  async node(params: { n?: number }, ctx: TaskContext): Promise<{ n?: number }> {
    this.log.push(`start:${ctx.taskId}`);
    this.seen.set(ctx.taskId, await ctx.childResults());
    // a little await, so siblings overlap and an early parent would show in the log
    await new Promise((resolve) => setImmediate(resolve));
    this.log.push(`end:${ctx.taskId}`);
    return { n: params.n };
  }

  @TaskHandler('boom')
  boom(): never {
    throw new Error('boom always fails');
  }

  /** Runs until its signal aborts (a cancel), then gives up with the signal's reason. */
  @TaskHandler('held')
  held(_params: unknown, ctx: TaskContext): Promise<never> {
    this.log.push(`start:${ctx.taskId}`);
    return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  }

  @TaskHandler('flaky')
  flaky(): string {
    if (!this.flakyOk) throw new Error('not yet');
    return 'fine now';
  }

  private open!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.open = resolve));

  /** Opens the gate: a test orders a death after another (a parent dies of the child that died first). */
  release(): void {
    this.open();
  }

  /** As 'flaky', once the gate is open. */
  @TaskHandler('gated')
  async gated(): Promise<string> {
    await this.gate;
    return this.flaky();
  }

  /** A parent whose own handler fails in the words of a child's death (until flakyOk): it died of itself, not of the child. */
  @TaskHandler('mimic')
  async mimic(_params: unknown, ctx: TaskContext): Promise<string> {
    if (this.flakyOk) return 'fine now';
    const [child] = Object.keys(await ctx.childResults());
    throw new Error(`child task ${child} (boom) is dead: said by the parent's own handler`);
  }

  /** Fails until flakyOk, with one retry a minute later: a test retries it by hand meanwhile. */
  @TaskHandler('patient', { retries: { attempts: 2, backoff: 'fixed', delayMs: 60_000 } })
  patient(): string {
    return this.flaky();
  }
}

/** Every node of a tree, parents before children. */
function nodes(tree: FlowNode): FlowNode[] {
  return [tree, ...tree.children.flatMap(nodes)];
}

describe.each(BACKENDS)('flows on %s', (backend) => {
  const backendApp = useBackendApp(backend);

  async function boot() {
    const app = await backendApp.boot({ queue: { pollIntervalMs: 50 }, workers: { concurrency: 8 } }, [FlowHandlers]);
    return { queue: app.get(TaskQueue), handlers: app.get(FlowHandlers) };
  }

  /** A parent dead of two dead children: `first` is the child it died of (the first to die), `second` the other. */
  async function deadOfTwoChildren() {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'flaky' }, { type: 'flaky' }] });
    for (const id of [ids.taskId, ...ids.children.map((c) => c.taskId)]) await waitFor(async () => (await statusOf(queue, id)) === 'dead', 'the children and the parent to die');
    const { error } = await queue.getTask(ids.taskId);
    const first = ids.children.map((c) => c.taskId).find((id) => error!.includes(id))!;
    const second = ids.children.map((c) => c.taskId).find((id) => id !== first)!;
    return { queue, handlers, ids, first, second };
  }

  /** The memory backend throws at once, the durable ones reject: either way a rejection here. */
  const settled = <T>(call: () => T | Promise<T>): Promise<T> => Promise.resolve().then(call);
  const statusOf = async (queue: TaskQueue, id: string) => (await queue.getTask(id)).status;

  it('runs a three-level tree of 100 tasks in dependency order, each parent after all its children succeeded', async () => {
    const { queue, handlers } = await boot();
    let n = 0;
    const flow: FlowInput = {
      type: 'node',
      params: { n: n++ },
      children: Array.from({ length: 9 }, () => ({
        type: 'node',
        params: { n: n++ },
        children: Array.from({ length: 10 }, () => ({ type: 'node', params: { n: n++ } })),
      })),
    };
    const ids = await queue.pushFlow(flow);
    expect(n).toBe(100);
    expect(ids.children).toHaveLength(9);
    expect((await queue.getTask(ids.taskId)).status).toBe('waiting');
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the root to succeed');

    const tree = await queue.getFlow(ids.taskId);
    expect(nodes(tree)).toHaveLength(100);
    expect(nodes(tree).every((node) => node.status === 'succeeded')).toBe(true);
    const at = (event: string) => handlers.log.indexOf(event);
    for (const parent of nodes(tree).filter((node) => node.children.length > 0)) {
      expect(handlers.log.filter((e) => e === `start:${parent.taskId}`)).toHaveLength(1);
      for (const child of parent.children) {
        expect(at(`end:${child.taskId}`)).toBeGreaterThanOrEqual(0);
        expect(at(`start:${parent.taskId}`)).toBeGreaterThan(at(`end:${child.taskId}`));
      }
    }
    // the root sees its nine children's results by id, not its grandchildren's
    const rootSaw = handlers.seen.get(ids.taskId)!;
    expect(Object.keys(rootSaw).sort()).toEqual(ids.children.map((c) => c.taskId).sort());
    const first = ids.children[0];
    expect(rootSaw[first.taskId]).toEqual({ type: 'node', status: 'succeeded', result: { n: 1 } });
    expect(handlers.seen.get(first.children[0].taskId)).toEqual({});
  });

  it("onChildFailure 'fail' (the default): the parent is dead with an error naming the child", async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'node' }, { type: 'boom' }] });
    const bad = ids.children[1].taskId;
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead', 'the parent to die');
    // the parent does not wait for its other children to die: the sibling ends as it ends
    await waitFor(async () => (await statusOf(queue, ids.children[0].taskId)) === 'succeeded', 'the sibling to succeed');
    const parent = await queue.getTask(ids.taskId);
    expect(parent.error).toContain(bad);
    expect(parent.error).toContain('boom always fails');
    expect(handlers.log).not.toContain(`start:${ids.taskId}`);
    // it ran no handler: no attempt and no try, on every backend
    expect({ attempts: parent.attempts, tries: parent.tries ?? [], startedAt: parent.startedAt }).toEqual({ attempts: 0, tries: [], startedAt: undefined });
    const tree = await queue.getFlow(ids.taskId);
    expect(tree.status).toBe('dead');
    expect(tree.children.map((c) => [c.taskId, c.status, c.onChildFailure])).toEqual([
      [ids.children[0].taskId, 'succeeded', 'fail'],
      [bad, 'dead', 'fail'],
    ]);
    // a subtree read from a child names the child's own policy, as the whole tree does
    expect(await queue.getFlow(bad)).toMatchObject({ taskId: bad, status: 'dead', onChildFailure: 'fail', children: [] });
    expect((await queue.getFlow(ids.taskId)).onChildFailure).toBeUndefined();
  });

  it("onChildFailure 'ignore': the parent runs without the child; 'continue': it runs and sees the failure", async () => {
    const { queue, handlers } = await boot();
    const ignored = await queue.pushFlow({ type: 'node', children: [{ type: 'node', params: { n: 1 } }, { type: 'boom', onChildFailure: 'ignore' }] });
    const continued = await queue.pushFlow({ type: 'node', children: [{ type: 'node', params: { n: 2 } }, { type: 'boom', onChildFailure: 'continue' }] });
    await waitFor(
      async () => (await statusOf(queue, ignored.taskId)) === 'succeeded' && (await statusOf(queue, continued.taskId)) === 'succeeded',
      'both parents to succeed',
    );
    expect(handlers.seen.get(ignored.taskId)).toEqual({ [ignored.children[0].taskId]: { type: 'node', status: 'succeeded', result: { n: 1 } } });
    const seen = handlers.seen.get(continued.taskId)!;
    expect(seen[continued.children[0].taskId]).toEqual({ type: 'node', status: 'succeeded', result: { n: 2 } });
    expect(seen[continued.children[1].taskId]).toMatchObject({ type: 'boom', status: 'dead', error: expect.stringContaining('boom always fails') });
  });

  it("a parent dead of its child fails its own parent by the same rule, up the tree", async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'node', children: [{ type: 'boom' }] }] });
    const middle = ids.children[0].taskId;
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead', 'the root to die');
    expect((await queue.getTask(ids.taskId)).error).toContain(middle);
    expect((await queue.getTask(middle)).error).toContain(ids.children[0].children[0].taskId);
    expect(handlers.log).toEqual([]);
  });

  it("a running child cancelled under 'continue': the parent runs and sees it cancelled", async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'held', onChildFailure: 'continue' }] });
    const child = ids.children[0].taskId;
    await waitFor(() => handlers.log.includes(`start:${child}`), 'the child to start');
    expect(await queue.cancelTask(child)).toBe(true);
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to run');
    expect(handlers.seen.get(ids.taskId)![child]).toMatchObject({ type: 'held', status: 'cancelled' });
  });

  it('cancelling a parent cancels what under it has not started', async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({
      type: 'node',
      children: [{ type: 'node', delayMs: 60_000 }, { type: 'node', children: [{ type: 'node', delayMs: 60_000 }] }],
    });
    // the two parents are counted and listed as waiting
    expect((await queue.countByStatus()).waiting).toBe(2);
    expect((await queue.listTasks({ status: 'waiting' })).items.map((t) => t.taskId).sort()).toEqual([ids.taskId, ids.children[1].taskId].sort());
    expect(await queue.cancelTask(ids.taskId)).toBe(true);
    const tree = await queue.getFlow(ids.taskId);
    expect(nodes(tree).map((node) => node.status)).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
    await queue.onIdle();
    expect(handlers.log).toEqual([]);
  });

  it("cancelling a pending child: under 'fail' its parent dies naming the cancel; under 'ignore' the parent runs without it", async () => {
    const { queue, handlers } = await boot();
    const failing = await queue.pushFlow({ type: 'node', children: [{ type: 'node', delayMs: 60_000 }] });
    const ignoring = await queue.pushFlow({ type: 'node', children: [{ type: 'node', delayMs: 60_000, onChildFailure: 'ignore' }, { type: 'node', params: { n: 1 } }] });
    const [failed, ignored] = [failing.children[0].taskId, ignoring.children[0].taskId];
    expect(await queue.cancelTask(failed)).toBe(true);
    expect(await queue.cancelTask(ignored)).toBe(true);
    await waitFor(async () => (await statusOf(queue, failing.taskId)) === 'dead', 'the parent to die');
    expect((await queue.getTask(failing.taskId)).error).toBe(`child task ${failed} (node) was cancelled`);
    await waitFor(async () => (await statusOf(queue, ignoring.taskId)) === 'succeeded', 'the other parent to run');
    expect(handlers.seen.get(ignoring.taskId)).toEqual({ [ignoring.children[1].taskId]: { type: 'node', status: 'succeeded', result: { n: 1 } } });
    expect([await statusOf(queue, failed), await statusOf(queue, ignored)]).toEqual(['cancelled', 'cancelled']);
    expect(handlers.log).not.toContain(`start:${failing.taskId}`);
    expect(handlers.log).not.toContain(`start:${failed}`);
    // a parent dead of a cancelled child cannot be run again by retryTask: it would run without that child
    await expect(Promise.resolve().then(() => queue.retryTask(failing.taskId))).rejects.toThrow(`died of its child '${failed}', which is cancelled`);
    expect(await statusOf(queue, failing.taskId)).toBe('dead');
  });

  it('retrying the dead child a parent died of re-arms the parent, which then runs once', async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'flaky' }, { type: 'node' }] });
    const child = ids.children[0].taskId;
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead', 'the parent to die');
    await waitFor(async () => (await statusOf(queue, ids.children[1].taskId)) === 'succeeded', 'the other child to succeed');
    // the parent itself is refused while that child is dead: it would run without the child's result
    const refused = await Promise.resolve().then(() => queue.retryTask(ids.taskId)).catch((err: unknown) => err);
    expect(refused).toMatchObject({ name: 'InvalidArgumentError', field: 'taskId' });
    expect((refused as Error).message).toBe(`taskId '${ids.taskId}': the task died of its child '${child}', which is dead: retry that child instead (its parent then waits for it again)`);
    expect(await queue.getTask(ids.taskId)).toMatchObject({ status: 'dead', error: expect.stringContaining(child) });
    handlers.flakyOk = true;
    await queue.retryTask(child);
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the re-armed parent to succeed');
    expect(handlers.log.filter((e) => e === `start:${ids.taskId}`)).toHaveLength(1);
    const parent = await queue.getTask(ids.taskId);
    expect(parent.error).toBeUndefined();
    expect(handlers.seen.get(ids.taskId)![child]).toEqual({ type: 'flaky', status: 'succeeded', result: 'fine now' });
  });

  it('a parent that died of two children waits for both retried children, and runs once, with both results', async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'flaky' }, { type: 'flaky' }, { type: 'node' }] });
    const [a, b] = ids.children.map((c) => c.taskId);
    await waitFor(async () => (await statusOf(queue, a)) === 'dead' && (await statusOf(queue, b)) === 'dead', 'both children to die');
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead', 'the parent to die');
    // the child it died of (the first to fail) re-arms it; the other is then waited for too
    const diedOf = (await queue.getTask(ids.taskId)).error!.includes(a) ? a : b;
    const [first, second] = diedOf === a ? [a, b] : [b, a];
    handlers.flakyOk = true;
    await queue.retryTask(first);
    await waitFor(async () => (await statusOf(queue, first)) === 'succeeded', 'the first child to succeed');
    // Redis released the parent here, with its other child still dead, and could not store its outcome
    expect(await statusOf(queue, ids.taskId)).toBe('waiting');
    expect(handlers.log).not.toContain(`start:${ids.taskId}`);
    await queue.retryTask(second);
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to succeed');
    expect(handlers.log.filter((e) => e === `start:${ids.taskId}`)).toHaveLength(1);
    expect(Object.values(handlers.seen.get(ids.taskId)!).map((r) => (r as { status: string }).status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  });

  it('retrying the child a parent died of leaves it dead of a sibling cancelled meanwhile, which it could never get past', async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'flaky' }, { type: 'held' }] });
    const [failed, held] = ids.children.map((c) => c.taskId);
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead' && handlers.log.includes(`start:${held}`), 'the parent to die, its other child running');
    expect(await queue.cancelTask(held)).toBe(true);
    await waitFor(async () => (await statusOf(queue, held)) === 'cancelled', 'the running child to end cancelled');
    handlers.flakyOk = true;
    await queue.retryTask(failed);
    await waitFor(async () => (await statusOf(queue, failed)) === 'succeeded', 'the retried child to succeed');
    // re-armed, it waited for ever for a child that cannot succeed; it stays dead, of that child now
    const parent = await queue.getTask(ids.taskId);
    expect({ status: parent.status, error: parent.error }).toEqual({ status: 'dead', error: `child task ${held} (held) was cancelled` });
    await expect(Promise.resolve().then(() => queue.retryTask(ids.taskId))).rejects.toThrow(`died of its child '${held}', which is cancelled`);
    expect(handlers.log).not.toContain(`start:${ids.taskId}`);
  });

  it('retrying the child a parent died of leaves it dead of a sibling that died of a cancelled grandchild, which no retry can mend', async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'flaky' }, { type: 'node', children: [{ type: 'held' }] }] });
    const [failed, sibling] = ids.children.map((c) => c.taskId);
    const grandchild = ids.children[1].children[0].taskId;
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead' && handlers.log.includes(`start:${grandchild}`), 'the parent to die, the grandchild running');
    expect(await queue.cancelTask(grandchild)).toBe(true);
    await waitFor(async () => (await statusOf(queue, sibling)) === 'dead', 'the sibling to die of its cancelled child');
    handlers.flakyOk = true;
    await queue.retryTask(failed);
    await waitFor(async () => (await statusOf(queue, failed)) === 'succeeded', 'the retried child to succeed');
    // re-armed, it waited for ever for a sibling whose retry is refused; it stays dead, of that sibling now
    const parent = await queue.getTask(ids.taskId);
    expect({ status: parent.status, error: parent.error }).toEqual({ status: 'dead', error: `child task ${sibling} (node) is dead: child task ${grandchild} (held) was cancelled` });
    await expect(settled(() => queue.retryTask(ids.taskId))).rejects.toThrow(
      `taskId '${ids.taskId}': the task died of its child '${sibling}', which is dead: the task can never succeed, as a task under it was cancelled: push the flow again`,
    );
    await expect(settled(() => queue.retryTask(sibling))).rejects.toThrow(`died of its child '${grandchild}', which is cancelled: a cancelled task cannot be retried`);
    expect(handlers.log).not.toContain(`start:${ids.taskId}`);
  });

  /** P → [A flaky, B → [D delayed (or running, held), E gated]], once P died of A, then B of E. */
  async function deadOfTwo(queue: TaskQueue, handlers: FlowHandlers, d: 'pending' | 'running' = 'pending') {
    const below = d === 'pending' ? { type: 'node', delayMs: 600_000 } : { type: 'held' };
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'flaky' }, { type: 'node', children: [below, { type: 'gated' }] }] });
    const [a, b] = ids.children.map((c) => c.taskId);
    const [dId, e] = ids.children[1].children.map((c) => c.taskId);
    // P dies of A first; then E fails, and B dies of it
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead', 'the parent to die of its first child');
    handlers.release();
    await waitFor(async () => (await statusOf(queue, b)) === 'dead', 'the middle node to die');
    if (d === 'running') await waitFor(() => handlers.log.includes(`start:${dId}`), 'the held child to run');
    return { p: ids.taskId, a, b, d: dId, e };
  }

  it('a parent stays dead of a sibling dead of its child once a task below that sibling is cancelled, whatever the retries', async () => {
    const { queue, handlers } = await boot();
    const { p, a, b, d, e } = await deadOfTwo(queue, handlers);
    expect(await queue.cancelTask(d)).toBe(true);
    handlers.flakyOk = true;
    await queue.retryTask(a);
    await waitFor(async () => (await statusOf(queue, a)) === 'succeeded', 'the retried child to succeed');
    // b died of e, which a retry mends, but d is cancelled: b can never succeed, and p, re-armed, waited for it for ever
    expect(await queue.getTask(p)).toMatchObject({ status: 'dead', error: `child task ${b} (node) is dead: child task ${e} (gated) is dead: not yet` });
    await expect(settled(() => queue.retryTask(p))).rejects.toThrow(`died of its child '${b}', which is dead: the task can never succeed, as a task under it was cancelled`);
    // b itself died of e, which is dead, not cancelled: still no retry mends b, and its refusal says so
    await expect(settled(() => queue.retryTask(b))).rejects.toThrow(`died of its child '${e}', which is dead: the task can never succeed, as a task under it was cancelled`);
    await queue.retryTask(e);
    await waitFor(async () => (await statusOf(queue, e)) === 'succeeded', 'the other retried child to succeed');
    expect(await queue.getTask(b)).toMatchObject({ status: 'dead', error: `child task ${d} (node) was cancelled` });
    expect(await statusOf(queue, p)).toBe('dead');
    expect(handlers.log.filter((l) => l === `start:${p}` || l === `start:${b}`)).toEqual([]);
  });

  it.each(['pending', 'running'] as const)('a parent re-armed behind a sibling dead of its child dies of it once a %s task below that sibling is cancelled', async (state) => {
    const { queue, handlers } = await boot();
    const { p, a, b, d, e } = await deadOfTwo(queue, handlers, state);
    handlers.flakyOk = true;
    await queue.retryTask(a);
    await waitFor(async () => (await statusOf(queue, a)) === 'succeeded' && (await statusOf(queue, p)) === 'waiting', 'the parent re-armed, waiting for the middle node');
    expect(await queue.cancelTask(d)).toBe(true);
    // the middle node can never succeed now: the parent waiting for it dies of it, rather than waiting for ever
    await waitFor(async () => (await statusOf(queue, p)) === 'dead', 'the parent to die of the middle node');
    expect((await queue.getTask(p)).error).toBe(`child task ${b} (node) is dead: child task ${e} (gated) is dead: not yet`);
    expect(handlers.log).not.toContain(`start:${p}`);
  });

  it('a parent left dead of another child by a retry: the ancestors dead of it name that child in their errors too', async () => {
    const { queue, handlers } = await boot();
    // G → [P → [A flaky, B → [D delayed, E gated]]]: P (and G) die of A, then B of E; D is cancelled, A retried
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'node', children: [{ type: 'flaky' }, { type: 'node', children: [{ type: 'node', delayMs: 600_000 }, { type: 'gated' }] }] }] });
    const p = ids.children[0];
    const [a, b] = p.children.map((c) => c.taskId);
    const [d, e] = p.children[1].children.map((c) => c.taskId);
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead', 'the root to die of A, through P');
    handlers.release();
    await waitFor(async () => (await statusOf(queue, b)) === 'dead', 'B to die of E');
    expect(await queue.cancelTask(d)).toBe(true);
    handlers.flakyOk = true;
    await queue.retryTask(a);
    await waitFor(async () => (await statusOf(queue, a)) === 'succeeded', 'A to succeed');
    const pError = `child task ${b} (node) is dead: child task ${e} (gated) is dead: not yet`;
    expect((await queue.getTask(p.taskId)).error).toBe(pError);
    // it quoted P's old error, of A, which has succeeded since
    expect(await queue.getTask(ids.taskId)).toMatchObject({ status: 'dead', error: `child task ${p.taskId} (node) is dead: ${pError}` });
  });

  it('a parent re-armed behind a chain of children dead of their children dies once a task at the bottom is cancelled', async () => {
    const { queue, handlers } = await boot();
    // G → [A flaky, P → [B → [C delayed, E gated]]]: G dies of A, then E fails, and B and P die; A's retry re-arms G only
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'flaky' }, { type: 'node', children: [{ type: 'node', children: [{ type: 'node', delayMs: 600_000 }, { type: 'gated' }] }] }] });
    const [a, p] = ids.children.map((c) => c.taskId);
    const b = ids.children[1].children[0].taskId;
    const c = ids.children[1].children[0].children[0].taskId;
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead', 'the root to die of its first child');
    handlers.release();
    await waitFor(async () => (await statusOf(queue, p)) === 'dead', 'the chain to die');
    handlers.flakyOk = true;
    await queue.retryTask(a);
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'waiting', 'the root re-armed, waiting for the dead chain');
    expect(await queue.cancelTask(c)).toBe(true);
    // b, then p, can never succeed now: the root, waiting for p, dies of it
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead', 'the root to die of the chain');
    expect((await queue.getTask(ids.taskId)).error).toMatch(new RegExp(`^child task ${p} \\(node\\) is dead: child task ${b} \\(node\\) is dead`));
    expect(handlers.log).not.toContain(`start:${ids.taskId}`);
  });

  it('a cancel below a dead sibling at the same time as the retry that re-arms the parent never leaves the parent waiting for ever', async () => {
    const { queue, handlers } = await boot();
    const flows = await Promise.all(Array.from({ length: 8 }, () => deadOfTwo(queue, handlers)));
    handlers.flakyOk = true;
    await Promise.all(flows.map((f) => Promise.all([queue.retryTask(f.a), queue.cancelTask(f.d)])));
    await waitFor(async () => (await Promise.all(flows.map((f) => statusOf(queue, f.p)))).every((s) => s === 'dead'), 'every parent dead of its middle node', 10_000);
    expect(handlers.log.filter((l) => flows.some((f) => l === `start:${f.p}`))).toEqual([]);
  });

  it('a cancel under a sibling at the same time as the retry that re-arms the parent never leaves the parent waiting for ever', async () => {
    const { queue, handlers } = await boot();
    // R → [A flaky, B → [C → [D delayed]]]: R dies of A; then, at once, B, C or D is cancelled and A retried, four flows of each
    const tree = { type: 'node', children: [{ type: 'flaky' }, { type: 'node', children: [{ type: 'node', children: [{ type: 'node', delayMs: 600_000 }] }] }] };
    const flows = await Promise.all(Array.from({ length: 12 }, () => queue.pushFlow(tree)));
    const below = (f: (typeof flows)[number], depth: number) => (depth === 0 ? f.children[1] : depth === 1 ? f.children[1].children[0] : f.children[1].children[0].children[0]).taskId;
    await waitFor(async () => (await Promise.all(flows.map((f) => statusOf(queue, f.taskId)))).every((s) => s === 'dead'), 'every parent to die of its first child');
    handlers.flakyOk = true;
    await Promise.all(flows.map((f, i) => Promise.all([queue.cancelTask(below(f, i % 3)), queue.retryTask(f.children[0].taskId)])));
    // the parent either stayed dead (the cancel came first) or was re-armed and then died of its cancelled child
    await waitFor(async () => (await Promise.all(flows.map((f) => statusOf(queue, f.taskId)))).every((s) => s === 'dead'), 'every parent dead of its cancelled child', 10_000);
    expect(handlers.log.filter((l) => flows.some((f) => l === `start:${f.taskId}`))).toEqual([]);
  });

  it('a parent retried right after its dead child is refused, and never runs while the child dies again', async () => {
    const { queue, handlers } = await boot();
    // the race the dashboard's two clicks made: the parent read `waiting` (the child just retried), passed the
    // check, the child died again, and the parent's retry then ran it without its child (3 of 8 on PostgreSQL)
    for (let round = 0; round < 16; round++) {
      const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'boom' }] });
      const child = ids.children[0].taskId;
      await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead', 'the parent to die');
      let refused: unknown;
      if (round % 2 === 0) {
        await queue.retryTask(child);
        await new Promise((resolve) => setTimeout(resolve, round % 4));
        refused = await Promise.resolve().then(() => queue.retryTask(ids.taskId)).catch((err: unknown) => err);
      } else {
        // both at once: on Redis the child's retry re-armed the parent between our check and BullMQ's retry, whose plain Error came out
        const [retried, parent] = await Promise.allSettled([queue.retryTask(child), Promise.resolve().then(() => queue.retryTask(ids.taskId))]);
        expect(retried.status).toBe('fulfilled');
        refused = parent.status === 'rejected' ? parent.reason : undefined;
      }
      expect(refused).toMatchObject({ name: 'InvalidArgumentError', field: 'taskId' });
      await waitFor(async () => (await statusOf(queue, child)) === 'dead' && (await statusOf(queue, ids.taskId)) === 'dead', 'the child and its parent to die again');
      expect(handlers.log).not.toContain(`start:${ids.taskId}`);
    }
  });

  it("a parent dies of its child while its own type is paused, and retrying the child re-arms it", async () => {
    const { queue, handlers } = await boot();
    await queue.pauseType('node');
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'flaky' }] });
    const child = ids.children[0].taskId;
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead', 'the parent to die, no worker of its type taking it');
    expect((await queue.getTask(ids.taskId)).error).toBe(`child task ${child} (flaky) is dead: not yet`);
    handlers.flakyOk = true;
    await queue.retryTask(child);
    await waitFor(async () => (await statusOf(queue, child)) === 'succeeded', 'the retried child to succeed');
    await queue.resumeType('node');
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to run');
    expect(handlers.log.filter((e) => e === `start:${ids.taskId}`)).toHaveLength(1);
    expect(handlers.seen.get(ids.taskId)![child]).toEqual({ type: 'flaky', status: 'succeeded', result: 'fine now' });
  });

  it('retrying the dead grandchild re-arms both parents that died of it, up the tree', async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'node', children: [{ type: 'flaky' }] }] });
    const [middle, leaf] = [ids.children[0].taskId, ids.children[0].children[0].taskId];
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead', 'the root to die');
    handlers.flakyOk = true;
    await queue.retryTask(leaf);
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the root to succeed');
    expect(handlers.log.filter((e) => e.startsWith('start:'))).toEqual([`start:${middle}`, `start:${ids.taskId}`]);
    expect((await queue.getTask(middle)).error).toBeUndefined();
    expect((await queue.getTask(ids.taskId)).attempts).toBe(1);
  });

  it('retrying a child that waits for its retry runs it now; its parent waits for it still, then runs once', async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'patient' }, { type: 'node' }] });
    const child = ids.children[0].taskId;
    await waitFor(async () => (await statusOf(queue, child)) === 'failed', 'the child to wait for its retry');
    await waitFor(async () => (await statusOf(queue, ids.children[1].taskId)) === 'succeeded', 'the other child to succeed');
    expect(await statusOf(queue, ids.taskId)).toBe('waiting');
    handlers.flakyOk = true;
    await queue.retryTask(child);
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to succeed');
    expect(handlers.log.filter((e) => e === `start:${ids.taskId}`)).toHaveLength(1);
    expect(handlers.seen.get(ids.taskId)![child]).toEqual({ type: 'patient', status: 'succeeded', result: 'fine now' });
    expect((await queue.getTask(child)).attempts).toBe(1);
  });

  it('a delayed parent whose children end early waits for its own time, then runs', async () => {
    const { queue, handlers } = await boot();
    const pushedAt = Date.now();
    const ids = await queue.pushFlow({ type: 'node', delayMs: 1500, children: [{ type: 'node', delayMs: 800 }] });
    await waitFor(async () => (await statusOf(queue, ids.children[0].taskId)) === 'succeeded', 'the child to succeed');
    expect(await statusOf(queue, ids.taskId)).toBe('pending');
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to run');
    // its time is counted from the push, not from its release (which would start it at 800 + 1500 ms)
    const startedAfter = (await queue.getTask(ids.taskId)).startedAt!.getTime() - pushedAt;
    expect(startedAfter).toBeGreaterThanOrEqual(1500);
    expect(startedAfter).toBeLessThan(2200);
    expect(handlers.log.filter((e) => e === `start:${ids.taskId}`)).toHaveLength(1);
  });

  it("a finished child's id pushed again is a plain task: its waiting parent neither waits for it nor lists it, and runs once the rest end", async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'node', params: { n: 1 } }, { type: 'gated' }] });
    const [done, gated] = ids.children.map((c) => c.taskId);
    await waitFor(async () => (await statusOf(queue, done)) === 'succeeded', 'the first child to succeed');
    expect(await queue.pushTask({ taskId: done, type: 'node', params: { n: 2 } })).toBe(done);
    await waitFor(async () => handlers.log.filter((e) => e === `end:${done}`).length === 2, 'the task pushed again to run');
    await waitFor(async () => (await statusOf(queue, done)) === 'succeeded', 'the task pushed again to succeed');
    expect((await queue.getTask(done)).parentId).toBeUndefined();
    expect(await statusOf(queue, ids.taskId)).toBe('waiting');
    handlers.flakyOk = true;
    handlers.release();
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to run once its other child ended');
    expect(Object.keys(handlers.seen.get(ids.taskId)!)).toEqual([gated]);
    expect((await queue.getFlow(ids.taskId)).children.map((c) => c.taskId)).toEqual([gated]);
    expect(handlers.log.filter((e) => e === `start:${ids.taskId}`)).toHaveLength(1);
  });

  it.each(['pushed again', 'deleted'] as const)('a parent re-armed for two dead children no longer waits for one whose id is then %s: it runs once the other succeeds', async (how) => {
    const { queue, handlers, ids, first, second } = await deadOfTwoChildren();
    handlers.flakyOk = true;
    await settled(() => queue.retryTask(first));
    await waitFor(async () => (await statusOf(queue, first)) === 'succeeded', 'the retried child to succeed');
    expect(await statusOf(queue, ids.taskId)).toBe('waiting');
    if (how === 'deleted') expect(await queue.deleteTask(second)).toBe(true);
    else expect(await queue.pushTask({ taskId: second, type: 'node' })).toBe(second);
    // it waited for ever: the child that left its flow was never counted off
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to run without the child that left its flow');
    expect(Object.keys(handlers.seen.get(ids.taskId)!)).toEqual([first]);
    expect(handlers.log.filter((e) => e === `start:${ids.taskId}`)).toHaveLength(1);
  });

  it.each(['pushed again', 'deleted'] as const)('a parent dead of two children: the child it died of retried while the other is %s at the same moment, it runs once the retried one succeeds', async (how) => {
    const { queue, handlers, ids, first, second } = await deadOfTwoChildren();
    handlers.flakyOk = true;
    // Redis: the re-arm put the sibling that had just left the flow back among the parent's dependencies
    await Promise.all([settled(() => queue.retryTask(first)), how === 'deleted' ? settled(() => queue.deleteTask(second)) : settled(() => queue.pushTask({ taskId: second, type: 'node' }))]);
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to run once the retried child succeeded');
    expect(Object.keys(handlers.seen.get(ids.taskId)!)).toEqual([first]);
    expect(handlers.log.filter((e) => e === `start:${ids.taskId}`)).toHaveLength(1);
  });

  it("retrying a dead 'continue' child before its released parent is taken: the parent waits for it again, then runs once with its result", async () => {
    const { queue, handlers } = await boot();
    await queue.pauseType('node');
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'flaky', onChildFailure: 'continue' }] });
    const child = ids.children[0].taskId;
    await waitFor(async () => (await statusOf(queue, child)) === 'dead', 'the child to die');
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'pending', 'the parent to be released');
    handlers.flakyOk = true;
    await queue.pauseType('flaky');
    await settled(() => queue.retryTask(child));
    // it stayed pending, and ran at once, seeing the child pending (Redis: then ran again, its outcome refused)
    expect(await statusOf(queue, ids.taskId)).toBe('waiting');
    await queue.resumeType('node');
    await queue.resumeType('flaky');
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to run');
    expect(handlers.seen.get(ids.taskId)).toEqual({ [child]: { type: 'flaky', status: 'succeeded', result: 'fine now' } });
    expect(handlers.log.filter((e) => e === `start:${ids.taskId}`)).toHaveLength(1);
  });

  it("a dead 'continue' child retried while its parent is dead of a sibling: the re-armed parent waits for both", async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'flaky' }, { type: 'boom', onChildFailure: 'continue' }] });
    const [sibling, child] = ids.children.map((c) => c.taskId);
    for (const id of [ids.taskId, sibling, child]) await waitFor(async () => (await statusOf(queue, id)) === 'dead', 'the children and the parent to die');
    handlers.flakyOk = true;
    await queue.pauseType('boom');
    await settled(() => queue.retryTask(child));
    await settled(() => queue.retryTask(sibling));
    await waitFor(async () => (await statusOf(queue, sibling)) === 'succeeded', 'the sibling to succeed');
    // Redis: the retry let the child go (as from a parent that ran), and the parent ran with it pending
    expect(await statusOf(queue, ids.taskId)).toBe('waiting');
    await queue.resumeType('boom');
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to run once both ended');
    expect(handlers.seen.get(ids.taskId)).toEqual({
      [sibling]: { type: 'flaky', status: 'succeeded', result: 'fine now' },
      [child]: { type: 'boom', status: 'dead', error: 'boom always fails' },
    });
    expect(handlers.log.filter((e) => e === `start:${ids.taskId}`)).toHaveLength(1);
  });

  it("a dead 'continue' child retried while its parent runs runs alone: the parent ends once, with its own outcome", async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'gated', children: [{ type: 'flaky', onChildFailure: 'continue' }] });
    const child = ids.children[0].taskId;
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'running', 'the parent to start after its child died');
    handlers.flakyOk = true;
    await queue.pauseType('flaky');
    await settled(() => queue.retryTask(child));
    // the parent ends while the child waits to run (Redis: its outcome was refused, and it ran again)
    handlers.release();
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to end');
    await queue.resumeType('flaky');
    await waitFor(async () => (await statusOf(queue, child)) === 'succeeded', 'the retried child to run alone');
    expect(await queue.getTask(ids.taskId)).toMatchObject({ status: 'succeeded', attempts: 1, result: 'fine now' });
  });

  it('retryTask of a parent dead of a child no longer in its flow (its id pushed again, or deleted) is refused; the parent stays dead', async () => {
    const { queue, handlers } = await boot();
    const pushed = await queue.pushFlow({ type: 'node', children: [{ type: 'boom' }, { type: 'node' }] });
    const deleted = await queue.pushFlow({ type: 'node', children: [{ type: 'boom' }] });
    for (const ids of [pushed, deleted]) await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead', 'the parent to die of its child');
    await waitFor(async () => (await statusOf(queue, pushed.children[1].taskId)) === 'succeeded', 'the other child to end');
    const child = pushed.children[0].taskId;
    expect(await queue.pushTask({ taskId: child, type: 'node' })).toBe(child);
    await waitFor(async () => (await statusOf(queue, child)) === 'succeeded', 'the child pushed again to run');
    expect(await queue.deleteTask(deleted.children[0].taskId)).toBe(true);
    for (const ids of [pushed, deleted]) {
      await expect(settled(() => queue.retryTask(ids.taskId))).rejects.toThrow(`the task died of its child '${ids.children[0].taskId}', which is no longer in its flow`);
      expect(await queue.getTask(ids.taskId)).toMatchObject({ status: 'dead', attempts: 0 });
    }
    expect(handlers.log.filter((e) => e === `start:${pushed.taskId}` || e === `start:${deleted.taskId}`)).toEqual([]);
  });

  it("retryTask of a parent that died of its own handler, in the words of a child's death, is accepted: it made an attempt", async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'mimic', children: [{ type: 'boom', onChildFailure: 'continue' }] });
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead', 'the parent to die of its handler');
    expect(await queue.getTask(ids.taskId)).toMatchObject({ attempts: 1, error: expect.stringMatching(/^child task /) });
    handlers.flakyOk = true;
    await settled(() => queue.retryTask(ids.taskId));
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to run again');
  });

  it("a finished parent's id pushed again is a plain task with no children; its old children name no parent", async () => {
    const { queue } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'node' }, { type: 'boom', onChildFailure: 'ignore' }] });
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the flow to end');
    expect(await queue.pushTask({ taskId: ids.taskId, type: 'node', params: { n: 3 } })).toBe(ids.taskId);
    await waitFor(async () => (await queue.getTask(ids.taskId)).result !== undefined && (await statusOf(queue, ids.taskId)) === 'succeeded', 'the plain task to run');
    expect((await queue.getFlow(ids.taskId)).children).toEqual([]);
    for (const child of ids.children) expect((await queue.getTask(child.taskId)).parentId).toBeUndefined();
  });

  it('leaves a deleted finished child out of getFlow and childResults; its parent still runs', async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'node', params: { n: 1 } }, { type: 'patient' }] });
    const [done, later] = ids.children.map((c) => c.taskId);
    await waitFor(async () => (await statusOf(queue, done)) === 'succeeded', 'the first child to succeed');
    await waitFor(async () => (await statusOf(queue, later)) === 'failed', 'the other child to wait for its retry');
    expect(await queue.deleteTask(done)).toBe(true);
    expect((await queue.getFlow(ids.taskId)).children.map((c) => c.taskId)).toEqual([later]);
    handlers.flakyOk = true;
    await queue.retryTask(later);
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to succeed');
    expect(Object.keys(handlers.seen.get(ids.taskId)!)).toEqual([later]);
  });

  it('deleting a finished parent deletes its record only: its children keep theirs', async () => {
    const { queue } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'node', params: { n: 1 } }] });
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to succeed');
    expect(await queue.deleteTask(ids.taskId)).toBe(true);
    expect(await queue.getTask(ids.children[0].taskId)).toMatchObject({ status: 'succeeded', result: { n: 1 } });
  });

  it("a deleted finished parent's id pushed again is a plain task: its old children are neither its children nor its results", async () => {
    const { queue, handlers } = await boot();
    const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'node', params: { n: 1 } }] });
    await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'succeeded', 'the parent to succeed');
    expect(await queue.deleteTask(ids.taskId)).toBe(true);
    expect(await queue.pushTask({ taskId: ids.taskId, type: 'node', params: { n: 2 } })).toBe(ids.taskId);
    await waitFor(async () => handlers.log.filter((e) => e === `end:${ids.taskId}`).length === 2, 'the plain task to run');
    expect(handlers.seen.get(ids.taskId)).toEqual({});
    expect((await queue.getFlow(ids.taskId)).children).toEqual([]);
    expect((await queue.getTask(ids.children[0].taskId)).parentId).toBeUndefined();
  });

  it('clusterEvents$ reports cancelled flow children, pending or running, as cancelled, and the parent that died of them', async () => {
    const app = await backendApp.boot({ queue: { pollIntervalMs: 50, clusterEvents: true, clusterEventsPollMs: 50 }, workers: { concurrency: 8 } }, [FlowHandlers]);
    const [queue, handlers] = [app.get(TaskQueue), app.get(FlowHandlers)];
    const events: ClusterTaskEvent[] = [];
    const sub = queue.clusterEvents$().subscribe((e) => events.push(e));
    try {
      const probe = await queue.pushTask({ type: 'node' });
      await waitFor(() => events.some((e) => e.taskId === probe), 'the stream to report a probe task', 15_000);
      const ids = await queue.pushFlow({ type: 'node', children: [{ type: 'node', delayMs: 60_000 }, { type: 'held', onChildFailure: 'continue' }] });
      const [pending, running] = ids.children.map((c) => c.taskId);
      await waitFor(() => handlers.log.includes(`start:${running}`), 'the held child to start');
      expect(await queue.cancelTask(running)).toBe(true);
      expect(await queue.cancelTask(pending)).toBe(true);
      await waitFor(async () => (await statusOf(queue, ids.taskId)) === 'dead', 'the parent to die of its cancelled child');
      const ended = (id: string, kind: string): boolean => events.some((e) => e.taskId === id && e.kind === kind);
      await waitFor(() => ended(pending, 'cancelled') && ended(running, 'cancelled') && ended(ids.taskId, 'dead'), 'the events of the children and the parent', 15_000);
      const kinds = (id: string): string[] => events.filter((e) => e.taskId === id).map((e) => e.kind);
      expect([kinds(pending), kinds(running)]).toEqual([['queued', 'cancelled'], ['queued', 'started', 'cancelled']]);
      // the parent died of its pending child (under 'fail'; the running one is 'continue'), and every instance hears of it;
      // its handler never ran (Redis: BullMQ may move it to active before this instance ends it, and reports that)
      expect(kinds(ids.taskId).filter((k) => backend !== 'redis' || k !== 'started')).toEqual(['queued', 'dead']);
      expect(handlers.log.filter((line) => line.endsWith(ids.taskId))).toEqual([]);
      expect(events.find((e) => e.taskId === ids.taskId && e.kind === 'dead')!.error).toContain(`child task ${pending} (node) was cancelled`);
    } finally {
      sub.unsubscribe();
    }
  });

  it('events$ reports a parent that dies of its child once, with its type and error: a child dead, a pending or running child cancelled, up the tree', async () => {
    const { queue, handlers } = await boot();
    const events: Array<{ kind: string; taskId: string; type: string; error?: string; durationMs?: number }> = [];
    const sub = queue.events$.subscribe((e) => events.push(e));
    try {
      const died = await queue.pushFlow({ type: 'node', children: [{ type: 'node', children: [{ type: 'boom' }] }] });
      const cancelled = await queue.pushFlow({ type: 'node', children: [{ type: 'node', delayMs: 60_000 }] });
      const stopped = await queue.pushFlow({ type: 'node', children: [{ type: 'held' }] });
      const held = stopped.children[0].taskId;
      await waitFor(() => handlers.log.includes(`start:${held}`), 'the held child to start');
      expect(await queue.cancelTask(cancelled.children[0].taskId)).toBe(true);
      expect(await queue.cancelTask(held)).toBe(true);
      const parents = [died.taskId, died.children[0].taskId, cancelled.taskId, stopped.taskId];
      const deaths = (id: string) => events.filter((e) => e.taskId === id && e.kind === 'dead');
      await waitFor(() => parents.every((id) => deaths(id).length > 0), 'every parent\'s dead event', 15_000);
      for (const id of parents) {
        const { error } = await queue.getTask(id);
        expect(deaths(id)).toEqual([expect.objectContaining({ type: 'node', error })]);
        // its handler never ran: no duration (the metrics would count a handler run)
        expect(deaths(id)[0].durationMs).toBeUndefined();
      }
      expect(deaths(died.taskId)[0].error).toContain(died.children[0].taskId);
    } finally {
      sub.unsubscribe();
    }
  });

  it('refuses a bad tree with InvalidTaskError naming the path, and writes nothing', async () => {
    const { queue } = await boot();
    const before = await queue.countByStatus();
    const leaf = { type: 'node', delayMs: 60_000 };
    const refused = async (flow: unknown, field: string) => {
      const err = await settled(() => queue.pushFlow(flow as FlowInput)).catch((e: unknown) => e);
      // a durable backend's pushFlow returns a promise: a refusal is its rejection, never a throw out of the call (a
      // caller's .catch() would miss it); the memory backend's returns the ids and throws, as its pushTask does
      let thrown: unknown;
      try {
        const result = queue.pushFlow(flow as FlowInput);
        if (result instanceof Promise) void result.catch(() => undefined);
      } catch (e) {
        thrown = e;
      }
      expect(thrown === undefined).toBe(backend !== 'memory');
      expect(err).toBeInstanceOf(InvalidTaskError);
      expect((err as InvalidTaskError).field).toBe(field);
      expect((err as Error).message).toContain(field);
    };
    await refused({ type: 'node', children: [leaf, leaf, { type: 'node', children: [{ type: 42 }] }] }, 'children[2].children[0].type');
    await refused({ type: 'node', children: [leaf, { type: 'node', params: { f: () => 1 } }] }, 'children[1].params.f');
    await refused({ type: 'node', children: [{ ...leaf, onChildFailure: 'maybe' }] }, 'children[0].onChildFailure');
    await refused({ type: 'node', children: [{ ...leaf, taskId: 'mine' }] }, 'children[0].taskId');
    await refused({ type: 'node', children: 'nope' }, 'children');
    await refused({ type: 'node', onChildFailure: 'ignore', children: [leaf] }, 'onChildFailure');
    // a hole is a missing node, not one fewer: its parent would wait for it forever
    const holed: unknown[] = [];
    holed[1] = leaf;
    await refused({ type: 'node', children: holed }, 'children[0]');
    await refused({ type: 'node', children: [leaf, { type: 'node', children: new Array(2) }] }, 'children[1].children[0]');
    // null is not the default, as for every pushTask field
    await refused({ type: 'node', children: [{ ...leaf, onChildFailure: null }] }, 'children[0].onChildFailure');
    await refused({ type: 'node', children: null }, 'children');
    // one level too deep: the deepest allowed level may have no children
    let deep: FlowInput = { type: 'node', children: [leaf] };
    for (let i = 0; i < MAX_FLOW_DEPTH; i++) deep = { type: 'node', children: [deep] };
    await refused(deep, `${'children[0].'.repeat(MAX_FLOW_DEPTH).slice(0, -1)}.children`);
    // an object that holds itself is refused by the depth limit too
    const cycle: FlowInput = { type: 'node', children: [] };
    cycle.children!.push(cycle);
    await expect(settled(() => queue.pushFlow(cycle))).rejects.toBeInstanceOf(InvalidTaskError);

    expect(await queue.countByStatus()).toEqual(before);
    expect((await queue.listTasks({ limit: 10 })).items).toEqual([]);
  });
});
