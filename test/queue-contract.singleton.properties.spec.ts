/**
 * Property: singleton keys compare byte for byte on every backend (memory;
 * database on SQLite, MariaDB through type 'mariadb' and through type
 * 'mysql', PostgreSQL; Redis). Keys that differ only by case, width,
 * trailing or leading spaces, an astral character or composition stay
 * distinct slots; pushes with one key collapse onto one pending task; a key
 * no backend can store is refused with InvalidTaskError naming
 * `singletonKey`, and nothing is written.
 *
 * A fixed seed (FC_SEED overrides it); FC_RUNS sets the runs;
 * FC_BACKENDS=memory,postgres narrows the backends.
 */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import fc from 'fast-check';
import { InvalidTaskError, QueueSchedulerModule, TaskQueue } from 'nestjs-queue-scheduler';
import { inspect } from 'node:util';
import { databaseFor, type DatabaseKind, useTestDatabase } from './support/databases';
import { goodKeyBase, hostileKey, keyOk, variantsOf } from './support/hostile-input';
import { dropPrefix, REDIS, testPrefix } from './support/redis';

type Backend = 'memory' | 'redis' | DatabaseKind;
const ALL: Backend[] = ['memory', 'sqlite', 'mariadb', 'mariadb-mysql', 'postgres', 'redis'];
const BACKENDS: Backend[] = process.env.FC_BACKENDS ? (process.env.FC_BACKENDS.split(',').map((s) => s.trim()) as Backend[]) : ALL;
const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 17_0617;
const RUNS = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 15;
jest.setTimeout(120_000);

const show = (v: unknown): string => inspect(v, { depth: 4, maxStringLength: 200, breakLength: Infinity });

/** Tags make every key unique to its run, so runs need no reset; before or after the generated part, so edge characters survive in half the runs. */
let tagCounter = 0;
function variantKeys(base: string, atEnd: boolean): string[] {
  const tag = `S${(tagCounter++).toString(36).padStart(5, '0')}_`;
  return [...new Set(variantsOf(base).map((v) => (atEnd ? v + tag : tag + v)))].filter((k) => keyOk(k, 'key'));
}

async function check<T>(backend: Backend, name: string, arb: fc.Arbitrary<T>, body: (input: T) => Promise<void>): Promise<void> {
  const details = await fc.check(fc.asyncProperty(arb, body), { seed: SEED, numRuns: RUNS });
  if (details.failed) {
    const cause = details.errorInstance instanceof Error ? details.errorInstance.message : show(details.errorInstance);
    throw new Error(`[${backend}] ${name}: ${cause}\n\nseed ${SEED} (replay: FC_SEED=${SEED} FC_BACKENDS=${backend}; path ${details.counterexamplePath ?? '-'})`);
  }
}

describe.each(BACKENDS)('singleton key properties on %s', (backend) => {
  const db = useTestDatabase(databaseFor(backend));
  let app: INestApplication | undefined;
  let prefix = '';
  let queue: TaskQueue;

  beforeAll(async () => {
    if (backend === 'redis') prefix = testPrefix();
    const imports = backend === 'redis'
      ? [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, workers: { enabled: false }, queue: { backend: 'redis', connection: REDIS, prefix } })]
      : db.present
      ? [
          TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
          QueueSchedulerModule.forRoot({ logLevel: 'fatal', workers: { enabled: false }, queue: { backend: 'database' } }),
        ]
      : [QueueSchedulerModule.forRoot({ logLevel: 'fatal', dataSource: false, workers: { enabled: false } })];
    app = (await Test.createTestingModule({ imports }).compile()).createNestApplication({ logger: false });
    await app.init();
    queue = app.get(TaskQueue);
  });

  db.beforeDrop(async () => {
    await app?.close();
    app = undefined;
    if (prefix) await dropPrefix(prefix);
  });

  it('keys that differ in any byte are distinct slots; equal keys collapse onto one pending task', async () => {
    await check(backend, 'distinct and equal keys', fc.record({ base: goodKeyBase, atEnd: fc.boolean(), mode: fc.constantFrom('singleton', 'debounce', 'throttle') }), async ({ base, atEnd, mode }) => {
      const keys = variantKeys(base, atEnd);
      const window = mode === 'debounce' ? { debounceMs: 600_000 } : mode === 'throttle' ? { throttleMs: 600_000 } : {};
      const before = (await queue.countByStatus()).pending;
      // every key pushed three times, all at once: a backend that merged two keys, or let one key in twice, shows it here
      const pushes = [0, 1, 2].flatMap((round) => keys.map((singletonKey, i) => ({ singletonKey, round, i })));
      const ids = await Promise.all(pushes.map(({ singletonKey, round, i }) => queue.pushTask({ type: 'prop', params: { i, round }, singletonKey, ...window })));
      const byKey = new Map<number, Set<string>>();
      pushes.forEach(({ i }, n) => byKey.set(i, (byKey.get(i) ?? new Set()).add(ids[n])));
      for (const [i, set] of byKey) if (set.size !== 1) throw new Error(`key ${show(keys[i])} got ${set.size} tasks: ${show([...set])} (keys ${show(keys)})`);
      const standing = keys.map((_, i) => [...byKey.get(i)!][0]);
      if (new Set(standing).size !== keys.length) throw new Error(`keys ${show(keys)} shared tasks: ${show(standing)}`);
      for (const [i, id] of standing.entries()) {
        const record = await queue.getTask(id);
        if (record.singletonKey !== keys[i] || record.status !== 'pending') {
          throw new Error(`task ${show(id)} of key ${show(keys[i])} reads ${show({ singletonKey: record.singletonKey, status: record.status })}`);
        }
      }
      const after = (await queue.countByStatus()).pending;
      if (after - before !== keys.length) throw new Error(`${keys.length} keys left ${after - before} new pending tasks (keys ${show(keys)})`);
    });
  });

  it('a key no backend can store is refused naming singletonKey, and nothing is written', async () => {
    await check(backend, 'refused keys', hostileKey(), async (singletonKey) => {
      const before = await queue.countByStatus();
      const outcome = await Promise.resolve()
        .then(() => queue.pushTask({ type: 'prop', singletonKey }))
        .then((id) => ({ ok: true as const, id }), (error: unknown) => ({ ok: false as const, error }));
      if (keyOk(singletonKey, 'key')) {
        if (!outcome.ok) throw new Error(`key ${show(singletonKey)} was refused: ${show(outcome.error)}`);
        const record = await queue.getTask(outcome.id);
        if (record.singletonKey !== singletonKey) throw new Error(`key ${show(singletonKey)} reads back as ${show(record.singletonKey)}`);
        return;
      }
      if (outcome.ok) throw new Error(`key ${show(singletonKey)} was accepted as task ${show(outcome.id)}`);
      const error = outcome.error;
      if (!(error instanceof InvalidTaskError) || error.field !== 'singletonKey' || !error.message.startsWith('singletonKey ')) {
        throw new Error(`key ${show(singletonKey)} failed with ${show(error)}`);
      }
      const after = await queue.countByStatus();
      if (show(after) !== show(before)) throw new Error(`a refused key changed the counts: ${show(before)} → ${show(after)}`);
    });
  });
});
