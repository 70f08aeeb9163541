import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { QueueSchedulerModule, TaskQueue } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { DATABASES, useTestDatabase } from './support/databases';

jest.setTimeout(60_000);

/**
 * Each instance makes push orders from its own clock (`task_queue.seq`), so
 * two instances pushing in one millisecond give their tasks one push order.
 * A cursor of the push order alone then skipped the rest of those tasks:
 * an audit's two producers left 139 of 300 tasks out of a walk at limit 1.
 */
describe.each(DATABASES)('listTasks pages over tasks that share a push order (%s)', (kind) => {
  const db = useTestDatabase(kind, { each: true });
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it.each([1, 7, 100])('at limit %i lists every task exactly once, newest first', async (limit) => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true, synchronize: true, logging: false } as TypeOrmModuleOptions),
        QueueSchedulerModule.forRoot({ logLevel: 'fatal', queue: { backend: 'database' }, workers: { enabled: false } }),
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const queue = app.get(TaskQueue);
    const ids = await queue.pushTasks(Array.from({ length: 40 }, (_, i) => ({ taskId: `t-${String(i).padStart(2, '0')}`, type: 'echo' })));
    const ds = app.get(DataSource);
    // three instances' pushes in three milliseconds: 15, 15 and 10 tasks at one push order each
    const [{ base }] = await ds.query('SELECT MAX(seq) AS base FROM task_queue');
    for (const [from, to, seq] of [[0, 15, 1], [15, 30, 2], [30, 40, 3]] as const) {
      const chunk = ids.slice(from, to);
      const marks = chunk.map((_, i) => (kind === 'postgres' ? `$${i + 1}` : '?')).join(', ');
      await ds.query(`UPDATE task_queue SET seq = ${String(BigInt(base) + BigInt(seq))} WHERE task_id IN (${marks})`, chunk);
    }
    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await queue.listTasks({ limit, cursor });
      listed.push(...page.items.map((t) => t.taskId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual([...ids].sort());
    // newest push order first; within one, the id decides (the order the cursor follows)
    const byOrder = (from: number, to: number) => ids.slice(from, to).sort().reverse();
    expect(listed).toEqual([...byOrder(30, 40), ...byOrder(15, 30), ...byOrder(0, 15)]);
  });
});
