/**
 * Scenario 6, failures: a backlog where 20% of tries fail at random and 1% of
 * the tasks are poison (every try fails), with 4 attempts (3 retries) and
 * exponential backoff with ±10% jitter, on the database backend. Proven with
 * the ledger: succeeded = total − poison, each poison task dead with
 * attempts = max, no task both succeeded and dead; each retry waits its
 * backoff (within ±10% of the policy) and never starts before it.
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DatabaseQueueService, QueueSchedulerModule, TaskContext, type TaskEvent, TaskHandler } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { DATABASES, useTestDatabase } from '../support/databases';
import { waitFor } from '../support/wait-for';
import { PROFILE, report } from './support/profile';

const TOTAL = PROFILE.failures.tasks;
const ATTEMPTS = 4;
const FAIL_RATE = 0.2;
const RETRIES = { attempts: ATTEMPTS, backoff: 'exponential', delayMs: 200, jitter: 0.1 } as const;
const SLOW = { attempts: ATTEMPTS, backoff: 'exponential', delayMs: 400, jitter: 0.1 } as const;

jest.setTimeout(TOTAL * 60 + 60_000);

@Injectable()
class FlakyHandlers {
  /** `taskId#attempt` → the moment the try threw, after its ledger row was written. */
  readonly thrownAt = new Map<string, number>();

  constructor(private readonly ds: DataSource) {}

  private async record(table: 'ledger_start' | 'ledger_done' | 'ledger_fail', ctx: TaskContext): Promise<void> {
    const p = this.ds.options.type === 'postgres' ? ['$1', '$2', '$3'] : ['?', '?', '?'];
    await this.ds.query(`INSERT INTO ${table} (task_id, attempt, at) VALUES (${p.join(', ')})`, [ctx.taskId, ctx.attempt, Date.now()]);
  }

  private async run(params: { poison?: boolean }, ctx: TaskContext): Promise<void> {
    await this.record('ledger_start', ctx);
    // a transient failure: random, on any try but the last, so only poison tasks run out of attempts
    if (params.poison || (ctx.attempt < ctx.maxAttempts && Math.random() < FAIL_RATE)) {
      await this.record('ledger_fail', ctx);
      this.thrownAt.set(`${ctx.taskId}#${ctx.attempt}`, Date.now());
      throw new Error(params.poison ? 'poison' : 'transient');
    }
    await this.record('ledger_done', ctx);
  }

  @TaskHandler('flaky', { retries: RETRIES })
  flaky(params: { poison?: boolean }, ctx: TaskContext): Promise<void> {
    return this.run(params, ctx);
  }

  @TaskHandler('flaky_slow', { retries: SLOW })
  flakySlow(params: { poison?: boolean }, ctx: TaskContext): Promise<void> {
    return this.run(params, ctx);
  }
}

describe.each(DATABASES)('failures, retries and poison tasks on %s', (kind) => {
  const db = useTestDatabase(kind);
  let app: INestApplication;
  let ds: DataSource;
  let queue: DatabaseQueueService;
  const events: TaskEvent[] = [];
  db.beforeDrop(() => app?.close());

  beforeAll(async () => {
    const ref = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false }),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', workers: { concurrency: 16 }, scheduler: { enabled: false }, queue: { backend: 'database', pollIntervalMs: 1000 } }),
      ],
      providers: [FlakyHandlers],
    }).compile();
    app = ref.createNestApplication({ logger: false });
    ds = app.get(DataSource);
    await app.init();
    for (const t of ['ledger_start', 'ledger_done', 'ledger_fail']) await ds.query(`CREATE TABLE ${t} (task_id varchar(191) NOT NULL, attempt int NOT NULL, at bigint NOT NULL)`);
    queue = app.get(DatabaseQueueService);
    queue.events$.subscribe((e) => events.push(e));
  });

  const count = async (sql: string): Promise<number> => Number((await ds.query(sql))[0].n);

  it(`${TOTAL} tasks, 20% random failures, 1% poison: succeeded = total − poison, poison dead after ${ATTEMPTS} attempts`, async () => {
    const poison = new Set(Array.from({ length: TOTAL / 100 }, (_, i) => `f${i * 100 + 37}`));
    for (let i = 0; i < TOTAL; i += 500) {
      await queue.pushTasks(Array.from({ length: 500 }, (_, j) => ({ taskId: `f${i + j}`, type: 'flaky', params: { poison: poison.has(`f${i + j}`) } })));
    }
    await waitFor(async () => (await count("SELECT COUNT(*) AS n FROM task_queue WHERE status IN ('pending', 'running')")) === 0, 'the backlog drained', TOTAL * 50, 200);

    const status = await queue.countByStatus();
    expect(status).toMatchObject({ succeeded: TOTAL - poison.size, dead: poison.size, pending: 0, running: 0, failed: 0 });
    const dead: Array<{ task_id: string; attempts: number }> = await ds.query("SELECT task_id, attempts FROM task_queue WHERE status = 'dead'");
    expect(dead.map((d) => d.task_id).sort()).toEqual([...poison].sort());
    expect(dead.filter((d) => Number(d.attempts) !== ATTEMPTS)).toEqual([]);
    // no task both succeeded and dead: a poison task never has a done, every other task exactly one
    expect(await count('SELECT COUNT(*) AS n FROM ledger_done')).toBe(TOTAL - poison.size);
    expect(await count('SELECT COUNT(DISTINCT task_id) AS n FROM ledger_done')).toBe(TOTAL - poison.size);
    const poisonDone: unknown[] = await ds.query(`SELECT task_id FROM ledger_done WHERE task_id IN (${[...poison].map((id) => `'${id}'`).join(', ')})`);
    expect(poisonDone).toEqual([]);
    // each try the ledger saw is one the queue counted
    expect(await count('SELECT COUNT(*) AS n FROM ledger_start')).toBe(await count('SELECT SUM(attempts) AS n FROM task_queue'));
    const failures = await count('SELECT COUNT(*) AS n FROM ledger_fail');
    const retried = events.filter((e) => e.kind === 'retrying');
    // each chosen backoff (retryAt minus the moment the try threw) is the policy's delay ±10% jitter. It can only
    // read long, by the time between the throw and the library reading the clock (microtasks, a GC pause): +25 ms
    const thrownAt = app.get(FlakyHandlers).thrownAt;
    expect(retried).toHaveLength(failures - poison.size);
    const off = retried.filter((e) => {
      const base = RETRIES.delayMs * 2 ** (e.attempt - 1);
      const chosen = e.retryAt!.getTime() - thrownAt.get(`${e.taskId}#${e.attempt}`)!;
      return !(chosen >= Math.floor(base * 0.9) && chosen <= base * 1.1 + 25);
    });
    expect(off).toEqual([]);
    // and no retry started before its time
    const retryAt = new Map(retried.map((e) => [`${e.taskId}#${e.attempt + 1}`, e.retryAt!.getTime()]));
    const starts: Array<{ task_id: string; attempt: number; at: string }> = await ds.query('SELECT task_id, attempt, at FROM ledger_start WHERE attempt > 1');
    expect(starts).toHaveLength(retried.length);
    expect(starts.filter((st) => Number(st.at) < retryAt.get(`${st.task_id}#${st.attempt}`)!)).toEqual([]);
    report(`failures-${kind}`, { tasks: TOTAL, poison: poison.size, injectedFailures: failures, retries: retried.length, dead: status.dead, succeeded: status.succeeded, duplicates: 0 });
  });

  it('an unloaded retry starts when its backoff ends: claimed within ±10% of the policy delay, then run', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `slow-${i}`);
    await queue.pushTasks(ids.map((taskId) => ({ taskId, type: 'flaky_slow', params: { poison: true } })));
    await waitFor(async () => (await count("SELECT COUNT(*) AS n FROM task_queue WHERE task_type = 'flaky_slow' AND status = 'dead'")) === ids.length, 'the slow poison tasks died', 60_000, 100);
    const thrownAt = app.get(FlakyHandlers).thrownAt;
    const starts: Array<{ task_id: string; attempt: number; at: string }> = await ds.query("SELECT task_id, attempt, at FROM ledger_start WHERE attempt > 1 AND task_id LIKE 'slow-%'");
    // A try's startedAt on the database is the moment its claim began. The wake-up is the library's timing: the claim
    // begins at the chosen retryAt (the idle poll, 1 s here, would be late). The claim's commit is the database's, so
    // it is bounded apart, loosely: one CI run saw 7 of 8 retries start together ~200 ms past a bound on the whole gap,
    // which could not tell a late wake-up from a slow commit
    const retryAt = new Map(events.filter((e) => e.kind === 'retrying').map((e) => [`${e.taskId}#${e.attempt + 1}`, e.retryAt!.getTime()]));
    const claimedAt = new Map<string, number>();
    for (const id of ids) for (const t of (await queue.getTask(id))!.tries ?? []) claimedAt.set(`${id}#${t.attempt}`, t.startedAt!.getTime());
    const gaps = starts.map((st) => {
      const [attempt, key] = [Number(st.attempt) - 1, `${st.task_id}#${Number(st.attempt)}`];
      const thrown = thrownAt.get(`${st.task_id}#${attempt}`)!;
      return { key, attempt, toClaim: claimedAt.get(key)! - thrown, dueToClaim: claimedAt.get(key)! - retryAt.get(key)!, claimToStart: Number(st.at) - claimedAt.get(key)! };
    });
    expect(gaps).toHaveLength(ids.length * (ATTEMPTS - 1));
    const outside = gaps.filter(({ attempt, toClaim, dueToClaim, claimToStart }) => {
      const base = SLOW.delayMs * 2 ** (attempt - 1);
      return toClaim < Math.floor(base * 0.9) || toClaim > base * 1.1 + 100 || dueToClaim < 0 || dueToClaim > 100 || claimToStart < 0 || claimToStart > 1000;
    });
    expect(outside).toEqual([]);
    report(`backoff-${kind}`, { tries: gaps.length, maxDueToClaimMs: Math.max(...gaps.map((g) => g.dueToClaim)), maxClaimToStartMs: Math.max(...gaps.map((g) => g.claimToStart)) });
  });
});
