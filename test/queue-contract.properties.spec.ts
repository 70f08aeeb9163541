/**
 * Property-based contract suite (issue 15): generated hostile input against
 * every backend (memory; database on SQLite, MariaDB through type 'mariadb'
 * and through type 'mysql', PostgreSQL; Redis). For each input the rules of
 * DESIGN.md's "Integrity" hold: a push or a store write either throws the
 * library's typed error and writes nothing, or keeps exactly what was given,
 * normalised as a JSON round trip would; outcomes (results, errors) are
 * recorded, never lost or left running.
 *
 * The oracle (what must be accepted, what the normalised value is) lives in
 * support/hostile-input.ts and does not use the library's code.
 *
 * Runs: a fixed seed (FC_SEED overrides it), modest numbers of runs by
 * default; FC_RUNS=1000 runs each property that many times (the megabyte
 * ones a twentieth of it). FC_BACKENDS=memory,postgres narrows the backends.
 * A property that has not finished (shrinking included) within 60 s fails
 * (FC_TIME_LIMIT_MS). A failure prints the seed and the path to replay it with.
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import fc from 'fast-check';
import {
  InvalidArgumentError,
  InvalidTaskError,
  QueueSchedulerError,
  QueueSchedulerModule,
  type TaskContext,
  TaskHandler,
  TaskNotFoundError,
  TaskQueue,
  type TaskRecord,
} from 'nestjs-queue-scheduler';
import { inspect, isDeepStrictEqual } from 'node:util';
import { databaseFor, type DatabaseKind, useTestDatabase } from './support/databases';
import {
  BULLMQ_KEYS,
  deepValue,
  fieldAllowed,
  goodKeyBase,
  hostileKey,
  hostileParams,
  hostileString,
  jsonish,
  judge,
  keyOk,
  makeSized,
  MiB,
  sizedRecipe,
  storedMessage,
  variantsOf,
  type Verdict,
  withCycle,
} from './support/hostile-input';
import { dropPrefix, REDIS, testPrefix } from './support/redis';
import { waitFor } from './support/wait-for';

type Backend = 'memory' | 'redis' | DatabaseKind;
const ALL: Backend[] = ['memory', 'sqlite', 'mariadb', 'mariadb-mysql', 'postgres', 'redis'];
const BACKENDS: Backend[] = process.env.FC_BACKENDS ? (process.env.FC_BACKENDS.split(',').map((s) => s.trim()) as Backend[]) : ALL;

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 15_0615;
const FC_RUNS = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : undefined;
/** `base` runs by default; FC_RUNS overrides it (the megabyte properties get a twentieth of it). */
const runs = (base: number, heavy = false): number => (FC_RUNS === undefined ? base : heavy ? Math.max(base, Math.ceil(FC_RUNS / 20)) : FC_RUNS);
/** A property that has not finished in this time fails (shrinking included), so a hang cannot eat the file's budget. */
const PROPERTY_TIME_LIMIT_MS = Number(process.env.FC_TIME_LIMIT_MS ?? (FC_RUNS ? 3_600_000 : 60_000));
jest.setTimeout(PROPERTY_TIME_LIMIT_MS + 60_000);

/** The defaults the rules name: queue.maxPayloadBytes, queue.maxResultBytes, store.maxValueBytes. */
const MAX_PAYLOAD = MiB;
const MAX_RESULT = MiB;
const MAX_VALUE = MiB;
/** How long an outcome may take to be recorded. */
const OUTCOME_MS = 8000;

// ---- handlers ------------------------------------------------------------------

/** Lets the tasks of one group throw together (both started, then both fail in the same moment). */
class Latch {
  private arrived = 0;
  private open!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.open = resolve));
  constructor(private readonly size: number) {}
  arrive(): Promise<void> {
    if (++this.arrived >= this.size) this.open();
    // a bound, not a wait for time: the partner may have been claimed late
    return Promise.race([this.opened, new Promise<void>((resolve) => setTimeout(resolve, 3000).unref())]);
  }
}

@Injectable()
class PropertyHandlers {
  /** Params each prop-echo handler call saw, by task id. */
  readonly seen = new Map<string, unknown>();
  /** What prop-result returns, by task id. */
  readonly results = new Map<string, unknown>();
  /** The message prop-throw throws, and the latch it waits at, by task id. */
  readonly failures = new Map<string, { message: string; latch: Latch }>();

  @TaskHandler('prop-echo')
  echo(params: unknown, ctx: TaskContext): void {
    this.seen.set(ctx.taskId, params);
  }

  @TaskHandler('prop-result')
  result(_params: unknown, ctx: TaskContext): unknown {
    return this.results.get(ctx.taskId);
  }

  @TaskHandler('prop-throw')
  async fail(_params: unknown, ctx: TaskContext): Promise<never> {
    const failure = this.failures.get(ctx.taskId);
    await failure?.latch.arrive();
    throw new Error(failure?.message ?? 'no message registered');
  }
}

// ---- helpers -------------------------------------------------------------------

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

async function attempt<T>(fn: () => T | Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

const show = (v: unknown): string => inspect(v, { depth: 6, maxStringLength: 300, maxArrayLength: 20, breakLength: Infinity });
const showError = (e: unknown): string =>
  e instanceof Error ? `${e.constructor.name}${(e as { field?: string }).field !== undefined ? `(field ${show((e as { field?: string }).field)})` : ''}: ${show(e.message)}` : show(e);

/** Where a recorded big `{ blob }` differs from the one returned, without printing a megabyte. */
function describeDifference(got: unknown, want: { blob: string }): string {
  const blob = (got as { blob?: unknown } | null)?.blob;
  if (typeof blob !== 'string') return `got ${show(got)}`;
  let i = 0;
  while (i < blob.length && blob[i] === want.blob[i]) i++;
  return `blob of ${blob.length} units, returned ${want.blob.length}; first difference at ${i}: ${show(blob.slice(i, i + 20))} vs ${show(want.blob.slice(i, i + 20))}`;
}

class Violation extends Error {}
function violated(message: string): never {
  throw new Violation(message);
}

/** Tags make every generated id and key unique to its run, so runs need no reset; before or after the generated part, so leading and trailing characters survive in half the runs. */
const TAG_LEN = 7;
let tagCounter = 0;
function tagged(key: string, atEnd: boolean): string {
  const tag = `T${(tagCounter++).toString(36).padStart(5, '0')}_`;
  return atEnd ? `${key}${tag}` : `${tag}${key}`;
}

/** The error of a refused call must be the typed one, name an allowed field, and say it in its message. */
function expectRefused(out: Outcome<unknown>, type: typeof InvalidTaskError | typeof InvalidArgumentError, allowed: Iterable<string>, roots: Iterable<string>, what: string): void {
  if (out.ok) violated(`${what}: accepted (returned ${show(out.value)}) but the rules refuse it`);
  const err = out.error;
  if (!(err instanceof QueueSchedulerError)) violated(`${what}: refused with an untyped ${showError(err)} (not a QueueSchedulerError); was anything written?`);
  if (!(err instanceof type)) violated(`${what}: refused with ${showError(err)}, not a ${type.name}`);
  const field = (err as InvalidTaskError).field;
  if (!fieldAllowed(field, allowed, roots)) violated(`${what}: ${showError(err)} names field ${show(field)}, expected one of ${show([...allowed])}${[...roots].length ? ` or a path under ${show([...roots])}` : ''}`);
  // a batch may name the item apart: `inputs[2]: params.a …`
  if (!err.message.includes(field) && !err.message.includes(field.replace(/^[a-z]+\[\d+\]\./i, ''))) violated(`${what}: the message of ${showError(err)} does not name its field ${show(field)}`);
}

function verdictFields(v: Verdict): { fields: string[]; roots: string[] } {
  if (v.ok) return { fields: [], roots: [] };
  return { fields: [...v.fields], roots: v.anyPathUnderRoot ? [v.root] : [] };
}

/** Runs one property; a failure reports the backend, the seed and the path to replay it. */
async function property<T>(backend: Backend, name: string, arb: fc.Arbitrary<T>, numRuns: number, body: (input: T) => Promise<void>): Promise<void> {
  const details = await fc.check(fc.asyncProperty(arb, body), {
    seed: SEED,
    numRuns,
    interruptAfterTimeLimit: PROPERTY_TIME_LIMIT_MS,
    markInterruptAsFailure: true,
  });
  if (details.failed) {
    const report = await fc.asyncDefaultReportMessage(details);
    const cause = details.errorInstance instanceof Error ? (details.errorInstance instanceof Violation ? details.errorInstance.message : (details.errorInstance.stack ?? details.errorInstance.message)) : show(details.errorInstance);
    throw new Error(`[${backend}] ${name}: ${cause}\n\nseed ${SEED} (replay: FC_SEED=${SEED} FC_BACKENDS=${backend}; path ${details.counterexamplePath ?? '-'})\n${report ?? ''}`);
  }
}

// ---- the suite -----------------------------------------------------------------

describe.each(BACKENDS)('contract properties on %s', (backend) => {
  const db = useTestDatabase(databaseFor(backend));
  let app: INestApplication;
  let queue: TaskQueue;
  let handlers: PropertyHandlers;
  let prefix = '';

  beforeAll(async () => {
    const common = { logLevel: 'fatal' as const, workers: { concurrency: 8 } };
    let imports;
    if (backend === 'memory') {
      imports = [QueueSchedulerModule.forRoot({ ...common, dataSource: false, queue: { historySize: 1_000_000 } })];
    } else if (backend === 'redis') {
      prefix = testPrefix();
      imports = [QueueSchedulerModule.forRoot({ ...common, dataSource: false, queue: { backend: 'redis', connection: REDIS, prefix, pollIntervalMs: 100 } })];
    } else {
      imports = [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({ ...common, queue: { backend: 'database', pollIntervalMs: 100 } }),
      ];
    }
    const moduleRef = await Test.createTestingModule({ imports, providers: [PropertyHandlers] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    queue = app.get(TaskQueue);
    handlers = app.get(PropertyHandlers);
  });

  db.beforeDrop(() => app?.close());
  afterAll(async () => {
    if (prefix) await dropPrefix(prefix);
  });

  /** Every task the queue knows, whatever its status: a refused push must not change it. */
  const total = async (): Promise<number> => Object.values(await queue.countByStatus()).reduce((a, b) => a + b, 0);

  /** Checks that getTask(id) finds exactly the task pushed: id, type, params normalised. */
  async function expectStored(id: string, type: string, normal: unknown, what: string): Promise<TaskRecord> {
    const got = await attempt(() => queue.getTask(id));
    if (!got.ok) violated(`${what}: pushed ${show(id)}, getTask threw ${showError(got.error)}`);
    const record = got.value;
    if (record.taskId !== id) violated(`${what}: getTask(${show(id)}).taskId is ${show(record.taskId)}`);
    if (record.type !== type) violated(`${what}: getTask(${show(id)}).type is ${show(record.type)}, pushed ${show(type)}`);
    if (!isDeepStrictEqual(record.params, normal)) violated(`${what}: getTask(${show(id)}).params is ${show(record.params)}, the normalised params are ${show(normal)}`);
    return record;
  }

  /** Checks that no task has this id: TaskNotFoundError (an id the rules refuse may also be refused by getTask with InvalidArgumentError). */
  async function expectAbsent(id: string, what: string): Promise<void> {
    const got = await attempt(() => queue.getTask(id));
    if (got.ok) violated(`${what}: refused, yet getTask(${show(id)}) finds ${show(got.value)}`);
    const acceptable = got.error instanceof TaskNotFoundError || (!keyOk(id, 'taskId') && got.error instanceof InvalidArgumentError);
    if (!acceptable) violated(`${what}: refused, and getTask(${show(id)}) threw ${showError(got.error)} instead of TaskNotFoundError`);
  }

  async function waitOutcome(id: string, what: string): Promise<TaskRecord> {
    let record: TaskRecord | undefined;
    try {
      await waitFor(
        async () => {
          const got = await attempt(() => queue.getTask(id));
          record = got.ok ? got.value : undefined;
          return record !== undefined && record.status !== 'pending' && record.status !== 'running';
        },
        'an outcome',
        OUTCOME_MS,
        10,
      );
    } catch {
      violated(`${what}: no outcome recorded within ${OUTCOME_MS} ms; the task is ${record ? `${record.status} (${show(record.error)})` : 'not found'}`);
    }
    return record!;
  }

  // ---- pushTask ----------------------------------------------------------------

  const pushInput = fc.record({
    id: fc.option(hostileKey(TAG_LEN), { nil: undefined, freq: 12 }),
    tagAtEnd: fc.boolean(),
    type: hostileKey(),
    params: hostileParams(true),
  });
  type PushCase = { id?: string; tagAtEnd: boolean; type: string; params: unknown };

  /** The ids, fields and verdicts of a generated push. */
  function plan(c: PushCase) {
    const taskId = c.id === undefined ? undefined : tagged(c.id, c.tagAtEnd);
    const params = judge(c.params, 'params', MAX_PAYLOAD, {});
    const idOk = taskId === undefined || keyOk(taskId, 'taskId');
    const typeOk = keyOk(c.type, 'type');
    const { fields, roots } = verdictFields(params);
    if (!idOk) fields.push('taskId');
    if (!typeOk) fields.push('type');
    return { taskId, params, accepted: idOk && typeOk && params.ok, fields, roots, why: [...(params.ok ? [] : params.why), ...(idOk ? [] : ['bad taskId']), ...(typeOk ? [] : ['bad type'])] };
  }

  it('pushTask: a typed error and nothing written, or the exact id and task (params normalised)', async () => {
    await property(backend, 'pushTask', pushInput, runs(60), async (c) => {
      const p = plan(c);
      const before = await total();
      const out = await attempt(() => queue.pushTask({ taskId: p.taskId, type: c.type, params: c.params }));
      if (p.accepted) {
        if (!out.ok) violated(`pushTask refused acceptable input with ${showError(out.error)}`);
        if (p.taskId !== undefined && out.value !== p.taskId) violated(`pushTask returned ${show(out.value)} for the id ${show(p.taskId)}`);
        if (typeof out.value !== 'string' || out.value === '') violated(`pushTask returned ${show(out.value)}`);
        await expectStored(out.value, c.type, (p.params as { normal: unknown }).normal, 'pushTask');
      } else {
        expectRefused(out, InvalidTaskError, p.fields, p.roots, `pushTask (${p.why.join('; ')})`);
        if (p.taskId !== undefined) await expectAbsent(p.taskId, 'pushTask');
        const after = await total();
        if (after !== before) violated(`pushTask was refused, yet the queue went from ${before} to ${after} tasks`);
      }
    });
  });

  it('pushTasks: a bad task among them refuses the batch and stores none; else every id and task exactly', async () => {
    await property(backend, 'pushTasks', fc.array(pushInput, { minLength: 1, maxLength: 4 }), runs(30), async (cases) => {
      const plans = cases.map((c) => plan(c));
      const before = await total();
      const out = await attempt(() => queue.pushTasks(cases.map((c, i) => ({ taskId: plans[i].taskId, type: c.type, params: c.params }))));
      if (plans.every((p) => p.accepted)) {
        if (!out.ok) violated(`pushTasks refused acceptable input with ${showError(out.error)}`);
        if (!Array.isArray(out.value) || out.value.length !== cases.length) violated(`pushTasks returned ${show(out.value)}`);
        for (let i = 0; i < cases.length; i++) {
          const want = plans[i].taskId;
          if (want !== undefined && out.value[i] !== want) violated(`pushTasks returned ${show(out.value[i])} at ${i} for the id ${show(want)}`);
          await expectStored(out.value[i], cases[i].type, (plans[i].params as { normal: unknown }).normal, `pushTasks[${i}]`);
        }
      } else {
        const bad = plans.filter((p) => !p.accepted);
        expectRefused(out, InvalidTaskError, bad.flatMap((p) => p.fields), bad.flatMap((p) => p.roots), `pushTasks (${bad.flatMap((p) => p.why).join('; ')})`);
        for (const p of plans) if (p.taskId !== undefined) await expectAbsent(p.taskId, 'pushTasks');
        const after = await total();
        if (after !== before) violated(`pushTasks was refused, yet the queue went from ${before} to ${after} tasks`);
      }
    });
  });

  it('refuses params it cannot keep (function, symbol, BigInt, cycle, lone surrogate, > 31 levels), naming the path', async () => {
    const badParams = fc.oneof(
      hostileParams(true).filter((p) => !judge(p, 'params', MAX_PAYLOAD, {}).ok),
      deepValue().map(({ value }) => ({ a: value })),
      fc.tuple(jsonish(false), fc.nat(), hostileString({ lone: false, nul: false, maxPieces: 2 })).map(([v, pick, key]) => withCycle({ v: [v] }, pick, key)),
    );
    await property(backend, 'bad params', fc.record({ id: goodKeyBase, params: badParams }), runs(40), async (c) => {
      const taskId = tagged(c.id, true);
      const verdict = judge(c.params, 'params', MAX_PAYLOAD, {});
      const before = await total();
      const out = await attempt(() => queue.pushTask({ taskId, type: 'prop-echo', params: c.params }));
      if (verdict.ok) {
        if (!out.ok) violated(`refused acceptable params with ${showError(out.error)}`);
        await expectStored(taskId, 'prop-echo', verdict.normal, 'pushTask');
        return;
      }
      const { fields, roots } = verdictFields(verdict);
      expectRefused(out, InvalidTaskError, fields, roots, `pushTask (${verdict.why.join('; ')})`);
      await expectAbsent(taskId, 'pushTask');
      if ((await total()) !== before) violated('refused, yet the number of tasks changed');
    });
  });

  it('params near queue.maxPayloadBytes: kept up to the limit, refused one byte past it', async () => {
    await property(backend, 'params near the byte limit', sizedRecipe(MAX_PAYLOAD), runs(6, true), async (recipe) => {
      const params = makeSized(recipe);
      const taskId = tagged('sized', true);
      const out = await attempt(() => queue.pushTask({ taskId, type: 'prop-echo', params }));
      if (recipe.target <= MAX_PAYLOAD) {
        if (!out.ok) violated(`${recipe.target} bytes of params refused with ${showError(out.error)}`);
        await expectStored(taskId, 'prop-echo', params, 'pushTask');
        await waitFor(() => handlers.seen.has(taskId), 'the handler ran', OUTCOME_MS).catch(() => violated('the handler never saw the task'));
        if (!isDeepStrictEqual(handlers.seen.get(taskId), params)) violated('the handler saw other params');
        handlers.seen.delete(taskId);
      } else {
        expectRefused(out, InvalidTaskError, ['params'], [], `${recipe.target} bytes of params`);
        await expectAbsent(taskId, 'pushTask');
      }
    });
  });

  /** Ids that differ only by case, width, spaces, emoji or composition from `base`, with one tag for all. */
  function variantIds(base: string, tagAtEnd: boolean): string[] {
    const tag = `T${(tagCounter++).toString(36).padStart(5, '0')}_`;
    return [...new Set(variantsOf(base).map((v) => (tagAtEnd ? v + tag : tag + v)))].filter((id) => keyOk(id, 'taskId'));
  }

  async function expectVariantsStored(ids: string[], pushed: Outcome<string[]>): Promise<void> {
    if (!pushed.ok) violated(`pushing ${show(ids)} threw ${showError(pushed.error)}`);
    if (!isDeepStrictEqual(pushed.value, ids)) violated(`pushing ${show(ids)} returned ${show(pushed.value)}`);
    for (const [n, id] of ids.entries()) await expectStored(id, 'prop-none', { n, id }, `variant ${n} of ${show(ids)}`);
  }

  it('ids that differ only by case, width, spaces, emoji or composition are distinct tasks and store keys', async () => {
    await property(backend, 'distinct ids', fc.record({ base: goodKeyBase, tagAtEnd: fc.boolean() }), runs(20), async ({ base, tagAtEnd }) => {
      const ids = variantIds(base, tagAtEnd);
      // pushed at once: a database that took two of them for one key would meet them in one moment
      await expectVariantsStored(ids, await attempt(() => Promise.all(ids.map((taskId, n) => queue.pushTask({ taskId, type: 'prop-none', params: { n, id: taskId } })))));
      for (const [n, id] of ids.entries()) {
        const set = await attempt(() => queue.setPublic(id, { n }));
        if (!set.ok) violated(`setPublic(${show(id)}) threw ${showError(set.error)}`);
      }
      for (const [n, id] of ids.entries()) {
        const value = await queue.getPublic(id);
        if (!isDeepStrictEqual(value, { n })) violated(`getPublic(${show(id)}) is ${show(value)}, set ${show({ n })} (the variants were ${show(ids)})`);
      }
      const keys = new Set(await queue.listKeys());
      const missing = ids.filter((id) => !keys.has(id));
      if (missing.length) violated(`listKeys lacks ${show(missing)}`);
    });
  });

  it('pushTasks: a batch of ids that differ only by case, width, spaces, emoji or composition stores each', async () => {
    await property(backend, 'distinct ids in one batch', fc.record({ base: goodKeyBase, tagAtEnd: fc.boolean() }), runs(15), async ({ base, tagAtEnd }) => {
      const ids = variantIds(base, tagAtEnd);
      await expectVariantsStored(ids, await attempt(() => queue.pushTasks(ids.map((taskId, n) => ({ taskId, type: 'prop-none', params: { n, id: taskId } })))));
    });
  });

  it("ids and store keys that are exactly BullMQ's key names, integers, or hold ':' and '%' run and are kept under that id", async () => {
    // untagged, so the same id comes back: a finished task's id is queued again, a store key overwritten
    const exact = fc.constantFrom(...BULLMQ_KEYS, ...BULLMQ_KEYS.map((k) => k.toUpperCase()), '1', '42', '0', '-1', '%i1', '%i', ':', 'a:b', 'meta:1', '%3A', '%25', '%', 'repeat:x:1', '~index', '~store:x');
    await property(backend, 'exact hostile ids', fc.record({ id: exact, params: hostileParams(false), value: jsonish(false) }), runs(40), async (c) => {
      const verdict = judge(c.params, 'params', MAX_PAYLOAD, {});
      if (!verdict.ok) return;
      handlers.seen.delete(c.id);
      const out = await attempt(() => queue.pushTask({ taskId: c.id, type: 'prop-echo', params: c.params }));
      if (!out.ok) violated(`pushTask(${show(c.id)}) threw ${showError(out.error)}`);
      if (out.value !== c.id) violated(`pushTask returned ${show(out.value)} for the id ${show(c.id)}`);
      await waitFor(() => handlers.seen.has(c.id), 'the handler ran', OUTCOME_MS).catch(() => violated(`the handler never ran task ${show(c.id)}`));
      if (!isDeepStrictEqual(handlers.seen.get(c.id), verdict.normal)) violated(`the handler of ${show(c.id)} saw ${show(handlers.seen.get(c.id))}, the normalised params are ${show(verdict.normal)}`);
      const record = await waitOutcome(c.id, `task ${show(c.id)}`);
      if (record.status !== 'succeeded') violated(`task ${show(c.id)} ended ${record.status}: ${show(record.error)}`);
      await expectStored(c.id, 'prop-echo', verdict.normal, `task ${show(c.id)}`);
      const value = judge(c.value, 'value', MAX_VALUE);
      if (!value.ok || c.value === undefined) return;
      const set = await attempt(() => queue.setPublic(c.id, c.value));
      if (!set.ok) violated(`setPublic(${show(c.id)}) threw ${showError(set.error)}`);
      const got = await queue.getPublic(c.id);
      if (!isDeepStrictEqual(got, value.normal)) violated(`getPublic(${show(c.id)}) gives ${show(got)}, the normalised value is ${show(value.normal)}`);
    });
  });

  // ---- what a handler sees -------------------------------------------------------

  it('the handler sees the normalised params (a JSON round trip), the same on every backend', async () => {
    const arb = fc.record({ id: goodKeyBase, tagAtEnd: fc.boolean(), params: hostileParams(false) });
    await property(backend, 'handler params', arb, runs(30), async (c) => {
      const taskId = tagged(c.id, c.tagAtEnd);
      const verdict = judge(c.params, 'params', MAX_PAYLOAD, {});
      const out = await attempt(() => queue.pushTask({ taskId, type: 'prop-echo', params: c.params }));
      if (!verdict.ok) {
        const { fields, roots } = verdictFields(verdict);
        return expectRefused(out, InvalidTaskError, fields, roots, `pushTask (${verdict.why.join('; ')})`);
      }
      if (!out.ok) violated(`pushTask refused acceptable params with ${showError(out.error)}`);
      await waitFor(() => handlers.seen.has(taskId), 'the handler ran', OUTCOME_MS).catch(() => violated(`the handler never ran task ${show(taskId)}`));
      const seen = handlers.seen.get(taskId);
      handlers.seen.delete(taskId);
      if (!isDeepStrictEqual(seen, verdict.normal)) violated(`the handler saw ${show(seen)}, the normalised params are ${show(verdict.normal)}`);
      const record = await waitOutcome(taskId, 'prop-echo');
      if (record.status !== 'succeeded') violated(`the task ended ${record.status}: ${show(record.error)}`);
    });
  });

  // ---- the public store ----------------------------------------------------------------

  it('setPublic then getPublic gives the normalised value; a refused key or value throws InvalidArgumentError and writes nothing', async () => {
    const value = fc.oneof(
      { weight: 6, arbitrary: jsonish(true) },
      { weight: 3, arbitrary: hostileParams(true) },
      { weight: 1, arbitrary: deepValue().map(({ value: v }) => v) },
    ).filter((v) => v !== undefined);
    await property(backend, 'store', fc.record({ key: hostileKey(TAG_LEN), tagAtEnd: fc.boolean(), value }), runs(60), async (c) => {
      const key = tagged(c.key, c.tagAtEnd);
      const verdict = judge(c.value, 'value', MAX_VALUE);
      const keyGood = keyOk(key, 'key');
      const before = await queue.getStoreSize();
      const out = await attempt(() => queue.setPublic(key, c.value));
      if (keyGood && verdict.ok) {
        if (!out.ok) violated(`setPublic refused acceptable input with ${showError(out.error)}`);
        const got = await attempt(() => queue.getPublic(key));
        if (!got.ok) violated(`getPublic threw ${showError(got.error)}`);
        if (!isDeepStrictEqual(got.value, verdict.normal)) violated(`getPublic gives ${show(got.value)}, the normalised value is ${show(verdict.normal)}`);
        return;
      }
      const { fields, roots } = verdictFields(verdict);
      if (!keyGood) fields.push('key');
      expectRefused(out, InvalidArgumentError, fields, roots, `setPublic (${[...(keyGood ? [] : ['bad key']), ...(verdict.ok ? [] : verdict.why)].join('; ')})`);
      if (keyGood) {
        const got = await attempt(() => queue.getPublic(key));
        if (!got.ok || got.value !== null) violated(`setPublic was refused, yet getPublic gives ${got.ok ? show(got.value) : showError(got.error)}`);
      }
      const after = await queue.getStoreSize();
      if (after !== before) violated(`setPublic was refused, yet the store went from ${before} to ${after} keys`);
    });
  });

  it('store values near store.maxValueBytes: kept up to the limit, refused past it', async () => {
    await property(backend, 'store near the byte limit', sizedRecipe(MAX_VALUE), runs(6, true), async (recipe) => {
      const value = makeSized(recipe);
      const key = tagged('sized', true);
      const out = await attempt(() => queue.setPublic(key, value));
      if (recipe.target <= MAX_VALUE) {
        if (!out.ok) violated(`${recipe.target} bytes refused with ${showError(out.error)}`);
        if (!isDeepStrictEqual(await queue.getPublic(key), value)) violated('getPublic gives another value');
        await queue.deletePublic(key);
      } else {
        expectRefused(out, InvalidArgumentError, ['value'], [], `${recipe.target} bytes`);
        if ((await queue.getPublic(key)) !== null) violated('refused, yet getPublic finds it');
      }
    });
  });

  // ---- outcomes ------------------------------------------------------------------------

  it('a handler result is recorded normalised; one that cannot be kept fails the try (typed), never left running', async () => {
    const result = fc.oneof(
      { weight: 6, arbitrary: jsonish(true) },
      { weight: 2, arbitrary: hostileParams(true) },
      { weight: 1, arbitrary: deepValue().map(({ value }) => value) },
    ).filter((v) => v !== undefined);
    await property(backend, 'results', fc.record({ id: goodKeyBase, result }), runs(30), async (c) => {
      const taskId = tagged(c.id, true);
      const verdict = judge(c.result, 'result', MAX_RESULT);
      handlers.results.set(taskId, c.result);
      try {
        const out = await attempt(() => queue.pushTask({ taskId, type: 'prop-result' }));
        if (!out.ok) violated(`pushTask threw ${showError(out.error)}`);
        const record = await waitOutcome(taskId, 'prop-result');
        if (verdict.ok) {
          if (record.status !== 'succeeded') violated(`a result the rules keep ended the task ${record.status}: ${show(record.error)}`);
          // null (what NaN and ±Infinity also become) is "no result" on every backend, as undefined is: a NULL column
          const recorded = verdict.normal === null ? undefined : verdict.normal;
          if (!isDeepStrictEqual(record.result, recorded)) violated(`the recorded result is ${show(record.result)}, the normalised result is ${show(recorded)}`);
        } else {
          if (record.status !== 'dead' && record.status !== 'failed') violated(`a result the rules refuse (${verdict.why.join('; ')}) ended the task ${record.status} (result ${show(record.result)})`);
          if (typeof record.error !== 'string' || record.error === '') violated(`the failed try has no error message (the record read: ${show(record)})`);
          // the error names the path (as stored: NUL and lone surrogates of a key read U+FFFD)
          const { fields, roots } = verdictFields(verdict);
          const named = fields.some((f) => record.error!.includes(storedMessage(f))) || roots.some((r) => record.error!.includes(r));
          if (!named) violated(`the error ${show(record.error)} names none of ${show(fields)}${roots.length ? ` nor a path under ${show(roots)}` : ''}`);
        }
      } finally {
        handlers.results.delete(taskId);
      }
    });
  });

  it('a result near queue.maxResultBytes is recorded up to the limit; past it the try fails with ResultTooLargeError', async () => {
    await property(backend, 'result near the byte limit', sizedRecipe(MAX_RESULT), runs(6, true), async (recipe) => {
      const taskId = tagged('sized-result', true);
      handlers.results.set(taskId, makeSized(recipe));
      try {
        await queue.pushTask({ taskId, type: 'prop-result' });
        const record = await waitOutcome(taskId, 'prop-result');
        if (recipe.target <= MAX_RESULT) {
          if (record.status !== 'succeeded') violated(`a ${recipe.target}-byte result ended the task ${record.status}: ${show(record.error)}`);
          const want = handlers.results.get(taskId) as { blob: string };
          if (!isDeepStrictEqual(record.result, want)) violated(`the recorded result differs: ${describeDifference(record.result, want)} (the record read: ${show({ ...record, result: '…' })})`);
        } else {
          if (record.status !== 'dead' && record.status !== 'failed') violated(`a ${recipe.target}-byte result ended the task ${record.status}`);
          if (!/maxResultBytes|ResultTooLarge/.test(record.error ?? '')) violated(`the error does not say the result is too large (the record read: ${show(record)})`);
        }
      } finally {
        handlers.results.delete(taskId);
      }
    });
  });

  it('an error message with NUL or lone surrogates is recorded (replaced by U+FFFD), and does not block another task failing at the same moment', async () => {
    const hostile = hostileString({ lone: true, nul: true, minPieces: 1, maxPieces: 8 }).filter((s) => s.includes('\0') || !s.isWellFormed());
    const other = fc.oneof(hostileString({ lone: false, nul: false, minPieces: 1, maxPieces: 4 }), hostile);
    await property(backend, 'error messages', fc.record({ a: hostile, b: other, id: goodKeyBase }), runs(20), async (c) => {
      const ids = [tagged(c.id, true), tagged(c.id, true)];
      const latch = new Latch(2);
      handlers.failures.set(ids[0], { message: c.a, latch });
      handlers.failures.set(ids[1], { message: c.b, latch });
      try {
        for (const taskId of ids) await queue.pushTask({ taskId, type: 'prop-throw' });
        for (const [i, taskId] of ids.entries()) {
          const message = i === 0 ? c.a : c.b;
          const record = await waitOutcome(taskId, `task ${i} throwing ${show(message)}`);
          if (record.status !== 'dead') violated(`task ${i} (message ${show(message)}) ended ${record.status}, not dead`);
          if (record.error !== storedMessage(message)) violated(`task ${i}: the recorded error is ${show(record.error)}, expected ${show(storedMessage(message))} (the record read: ${show(record)})`);
        }
      } finally {
        for (const taskId of ids) handlers.failures.delete(taskId);
      }
    });
  });
});
